"""Ids are unique, increase with time, and carry their creation time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from mesh.ids import MAX_SHARD, IdGenerator, id_at, id_time


def test_ids_strictly_increase_within_one_generator() -> None:
    ids = IdGenerator(shard=3)
    made = [ids.next_id() for _ in range(5000)]  # several ms worth, and >1024 per ms possible
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_are_unique_across_threads() -> None:
    ids = IdGenerator()
    results: list[list[int]] = [[] for _ in range(4)]

    def work(out: list[int]) -> None:
        out.extend(ids.next_id() for _ in range(2000))

    threads = [threading.Thread(target=work, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for r in results for i in r]
    assert len(set(everything)) == 8000


def test_id_carries_its_creation_time_and_fits_in_signed_64_bits() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=2)
    made = IdGenerator(shard=MAX_SHARD).next_id()
    assert 0 < made < 2**63
    assert before <= id_time(made) <= datetime.now(UTC) + timedelta(milliseconds=2)
    assert id_at(id_time(made)) <= made


def test_shard_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        IdGenerator(shard=MAX_SHARD + 1)
