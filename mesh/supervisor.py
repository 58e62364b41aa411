"""Run every service, and the edge, as its own OS process, restarting any that dies.

This is how `shutter up --engines` runs the mesh: the same `python -m <service>` commands a real
deployment uses, on PostgreSQL, Redis and S3, supervised with exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("shutter.supervisor")

BACKOFF_START_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
# A process that stayed up this long is healthy again: its next crash restarts it at once.
STABLE_AFTER_SECONDS = 60.0


@dataclass
class Child:
    """One supervised process: its name, command and restart history."""

    name: str
    argv: list[str]
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    backoff: float = BACKOFF_START_SECONDS
    started_at: float = 0.0
    exits: list[int] = field(default_factory=list)


class Supervisor:
    """Start processes, restart them when they exit, stop them all on request."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        grace_seconds: float = 10.0,
        stop_first: Sequence[str] = (),
    ) -> None:
        self.children = list(children)
        self._grace = grace_seconds
        # Children stopped (and waited for) before the others: the edge, so that no request
        # arrives at a service that is draining; the services then finish what they have.
        self._stop_first = set(stop_first)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every child and the watcher that restarts it."""
        for child in self.children:
            await self._spawn(child)
            self._tasks.append(asyncio.create_task(self._watch(child)))

    async def _spawn(self, child: Child) -> None:
        child.process = await asyncio.create_subprocess_exec(*child.argv, env=child.env)
        child.started_at = time.monotonic()
        log.info("%s started (pid %d)", child.name, child.process.pid)

    async def _watch(self, child: Child) -> None:
        while True:
            assert child.process is not None
            code = await child.process.wait()
            if self._stopping.is_set():
                return
            child.exits.append(code)
            if time.monotonic() - child.started_at >= STABLE_AFTER_SECONDS:
                child.backoff = BACKOFF_START_SECONDS
            log.error(
                "%s exited with code %d; restarting in %.1fs", child.name, code, child.backoff
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=child.backoff)
            if self._stopping.is_set():
                return
            child.backoff = min(child.backoff * 2, BACKOFF_MAX_SECONDS)
            child.restarts += 1
            await self._spawn(child)

    async def stop(self) -> None:
        """Stop the `stop_first` children, then the others: SIGTERM (they drain in-flight
        calls), SIGKILL what outlives the grace; each wave has the whole grace."""
        self._stopping.set()
        first = [c for c in self.children if c.name in self._stop_first]
        rest = [c for c in self.children if c.name not in self._stop_first]
        for wave in (first, rest):
            await self._terminate(
                [c.process for c in wave if c.process and c.process.returncode is None]
            )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _terminate(self, running: list[asyncio.subprocess.Process]) -> None:
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(
                asyncio.gather(*(p.wait() for p in running)), timeout=self._grace
            )
        except TimeoutError:
            for process in running:
                if process.returncode is None:
                    log.warning("pid %d ignored SIGTERM; killing it", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.gather(*(p.wait() for p in running))


def module_child(name: str, module: str, env: Mapping[str, str]) -> Child:
    """Return a child that runs `python -m module` with this interpreter."""
    return Child(name=name, argv=[sys.executable, "-m", module], env={**os.environ, **env})
