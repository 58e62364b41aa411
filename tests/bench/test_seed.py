"""The seeded population and the load generator's request picking: pure, repeatable logic."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench import loadgen
from bench.seed import build_population, read_edges

EDGES = [(0, 1), (1, 2), (2, 0), (2, 3)]


def _population(seed: int = 5, **overrides: int):
    options = {
        "extra_users": 200,
        "extra_follows": 10,
        "celebrities": 2,
        "celebrity_followers": 150,
    } | overrides
    return build_population(EDGES, seed=seed, prefix="p_", **options)


def test_edge_list_reading_skips_comments_loops_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "g.edges"
    path.write_text("% header\n1 0\n0 1\n2 2\n\n3 1 extra\n")
    assert read_edges(path) == [(0, 1), (1, 3)]


def test_population_is_a_function_of_the_seed() -> None:
    assert _population(5) == _population(5)
    assert _population(5).follows != _population(6).follows


def test_real_edges_follow_both_ways_and_celebrities_have_exact_followers() -> None:
    population = _population()
    follows = set(population.follows)
    assert population.real_people == 4 and len(population.usernames) == 4 + 200 + 2
    for a, b in EDGES:
        assert (a, b) in follows and (b, a) in follows
    assert all(a != b for a, b in follows) and len(follows) == len(population.follows)
    followers = Counter(b for _, b in population.follows)
    assert [followers[c] for c in population.celebrities] == [150, 150]
    # Synthetic users follow exactly their quota (the draw retries bounded times; it suffices).
    out = Counter(a for a, b in population.follows if b not in population.celebrities)
    assert all(out[u] == 10 for u in range(4, 204))


def test_synthetic_popularity_is_heavy_tailed() -> None:
    population = _population(extra_users=2000, celebrities=0)
    followers = sorted(Counter(b for _, b in population.follows).values(), reverse=True)
    # Pareto(1.2) popularity: the top 1 % of accounts draw far more than 1 % of the follows.
    top = sum(followers[: len(followers) // 100])
    assert top > 0.1 * sum(followers)


def test_too_many_celebrity_followers_is_refused() -> None:
    with pytest.raises(ValueError, match="raise --extra-users"):
        _population(extra_users=10, celebrity_followers=15)
    assert len(_population(extra_users=10, celebrity_followers=14).celebrities) == 2


def test_request_picking_round_robin_and_seeded_random() -> None:
    spec = loadgen.LoadSpec(target="x", method="m", requests=(("{}", "a"),) * 5, workers=2)
    turn = loadgen._chooser(spec, 0, 5)
    assert [turn() for _ in range(6)] == [1, 2, 3, 4, 0, 1]
    other = loadgen._chooser(spec, 1, 5)
    assert other() == 3  # the second worker starts half-way through the list
    draw = {"pick": "random", "seed": 9}
    rand = loadgen.LoadSpec(**{**spec.__dict__, **draw})
    first, again = loadgen._chooser(rand, 0, 5), loadgen._chooser(rand, 0, 5)
    picks = [first() for _ in range(50)]
    assert picks == [again() for _ in range(50)] and set(picks) == set(range(5))
    with pytest.raises(ValueError, match="pick"):
        loadgen._chooser(loadgen.LoadSpec(**{**spec.__dict__, "pick": "nope"}), 0, 5)


def test_a_synthetic_only_population_has_no_real_people() -> None:
    population = build_population(
        [],
        seed=1,
        prefix="s_",
        extra_users=30,
        extra_follows=3,
        celebrities=1,
        celebrity_followers=30,
    )
    assert population.real_people == 0 and len(population.usernames) == 31
    assert sum(1 for _, b in population.follows if b == 30) == 30
