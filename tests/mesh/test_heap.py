"""A started process keeps what start-up made out of the garbage collector's passes, and still
collects what it makes while serving."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from mesh import heap, launcher, server
from mesh.services import MESH

# Run in a fresh interpreter: freezing the test runner's own heap would keep every later test's
# cyclic garbage for good.
PROBE = """
import gc, weakref
import feed_svc.servicer, post_svc.servicer  # a service's start-up: its stack imported
from mesh import heap
before = len(gc.get_objects())
frozen = heap.freeze_startup_heap()
walked = len(gc.get_objects())

class Node:
    pass

made = Node()
made.self = made  # a reference cycle made while serving: only the collector frees it
gone = []
weakref.finalize(made, gone.append, True)
del made
gc.collect()
print(before, frozen, walked, bool(gone))
"""


def test_freezing_leaves_start_up_out_of_every_pass_and_still_collects_new_garbage() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    before, frozen, walked, collected = done.stdout.split()
    assert int(before) > 50_000  # what a full collection walked before
    assert int(frozen) >= int(before) // 2
    assert int(walked) < 100  # what it walks now
    assert collected == "True"


async def test_a_service_process_freezes_its_heap_once_started_before_it_serves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []

    async def create(_settings: Any) -> str:
        order.append("created")
        return "service"

    async def serve(services: list[Any], _grace: float) -> None:
        order.append(f"serving {services}")

    def freeze() -> int:
        order.append("frozen")
        return 0

    spec = MESH[0]
    monkeypatch.setattr(type(spec), "create", lambda _self: create)
    monkeypatch.setattr(heap, "freeze_startup_heap", freeze)
    monkeypatch.setattr(server, "run_until_signalled", serve)
    await launcher._run_service(spec, spec.settings_type()())
    assert order == ["created", "frozen", "serving ['service']"]
