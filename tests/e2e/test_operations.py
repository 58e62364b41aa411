"""`shutter up` as an operator runs it, in a subprocess: what it prints, Ctrl-C with a live
notification stream open, and two meshes side by side with --port-base.

In an engines run these meshes run as supervised processes on the test's PostgreSQL, Redis and
S3 (the variables the engines fixtures set); otherwise embedded, in one process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mesh.cli import PORT_BASE_SPAN
from mesh.codegen import ROOT
from mesh.launcher import free_port_run

# Starting six services and the edge on a busy 2-core machine; stopping within the grace period
# (SHUTTER_SHUTDOWN_GRACE_SECONDS, 5 s) plus the supervisor's margin.
START_TIMEOUT = 180.0
STOP_TIMEOUT = 15.0
JSON = {"Content-Type": "application/json"}


@dataclass
class UpProcess:
    """A `shutter up` subprocess and where its output goes."""

    process: subprocess.Popen[str]
    stdout: Path
    stderr: Path
    base: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.base}"

    def output(self) -> tuple[str, str]:
        return self.stdout.read_text(), self.stderr.read_text()

    def wait_ready(self) -> None:
        """Wait for the edge URL on stdout and every service ready behind it."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            if self.stdout.read_text().strip():
                try:
                    if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)

    def interrupt(self) -> float:
        """Send SIGINT (Ctrl-C) and return how long the process took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=STOP_TIMEOUT)
        return time.monotonic() - started


StartUp = Callable[..., UpProcess]


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    """Return a function starting `shutter up --port-base` in a subprocess; all are stopped."""
    started: list[UpProcess] = []

    def start(name: str = "mesh", *, inherit_engines: bool = True) -> UpProcess:
        base = free_port_run(PORT_BASE_SPAN)
        env = {
            k: v
            for k, v in os.environ.items()
            if inherit_engines or not k.startswith("SHUTTER_") or k.startswith("SHUTTER_TEST_")
        }
        env["SHUTTER_DATA_DIR"] = str(tmp_path / name)
        stdout, stderr = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        argv = [sys.executable, "-m", "mesh.cli", "up", "--port-base", str(base)]
        with stdout.open("w") as out, stderr.open("w") as err:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        up = UpProcess(process, stdout, stderr, base)
        started.append(up)
        return up

    yield start
    for up in started:
        if up.process.poll() is None:
            up.process.send_signal(signal.SIGINT)
            try:
                up.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                up.process.kill()
                up.process.wait()


def register(url: str, name: str) -> str:
    """Register an account through the edge; return its access token."""
    body = {"username": name, "email": f"{name}@example.com", "password": "correct horse"}
    answer = httpx.post(f"{url}/api/v1/users/register", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["accessToken"]
    return token


def test_up_prints_what_started_and_where_and_no_noise(start_up: StartUp) -> None:
    up = start_up()
    up.wait_ready()
    token = register(up.url, "alice")
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{up.url}/api/v1/feed", headers=auth, timeout=30).status_code == 200
    assert httpx.get(f"{up.url}/api/v1/feed", timeout=30).status_code == 401
    assert httpx.get(f"{up.url}/api/v1/posts/123", headers=auth, timeout=30).status_code == 404
    assert up.interrupt() < STOP_TIMEOUT
    assert up.process.returncode == 0
    stdout, stderr = up.output()
    # The one line scripts read, on stdout.
    assert stdout == f"{up.url}\n"
    # Where everything is, on stderr: the edge, each service on its port, the metrics port.
    assert up.url in stderr
    for offset, name in enumerate(
        ("user_svc", "graph_svc", "post_svc", "media_svc", "feed_svc", "notify_svc", "message_svc"),
        start=1,
    ):
        assert f"127.0.0.1:{up.base + offset}" in stderr
        assert name in stderr
    assert f"http://127.0.0.1:{up.base + 8}/metrics" in stderr
    # Not Alembic's set-up chatter, not a line per request (answered or refused), no traceback.
    assert "alembic" not in stderr
    assert "rpc /" not in stderr
    assert "GET /api" not in stderr
    assert "Traceback" not in stderr
    assert stderr.rstrip().endswith("stopped")


def test_ctrl_c_with_a_live_stream_ends_it_cleanly(start_up: StartUp) -> None:
    up = start_up()
    up.wait_ready()
    token = register(up.url, "alice")
    received: list[str] = []
    with (
        httpx.Client(timeout=STOP_TIMEOUT) as client,
        client.stream(
            "GET",
            f"{up.url}/api/v1/notifications/stream",
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        while next(lines) != ": opened":
            pass
        started = time.monotonic()
        up.process.send_signal(signal.SIGINT)
        # The stream ends (the iterator stops) rather than the client timing out.
        received = list(lines)
        ended_after = time.monotonic() - started
    up.process.wait(timeout=STOP_TIMEOUT)
    # Well within the 5 s grace period: the stream did not hold the stop.
    assert ended_after < 4.0
    assert up.process.returncode == 0
    events = [line for line in received if line]
    if events:
        # The edge stopped first: one final event says why, and the client reconnects later.
        assert events[0] == "event: error"
        error = json.loads(events[1].removeprefix("data: "))
        assert error["code"] == 14
        assert error["details"][0]["reason"] == "SHUTTING_DOWN"
        assert len(events) == 2
    # Otherwise notify_svc stopped first and the edge closed the stream in order.
    _, stderr = up.output()
    assert "Traceback" not in stderr
    assert "ERROR" not in stderr
    assert "killing it" not in stderr  # no process outlived the grace period


def test_two_meshes_run_side_by_side_with_port_base(start_up: StartUp) -> None:
    # Embedded both: each keeps its data in its own directory.
    first = start_up("first", inherit_engines=False)
    second = start_up("second", inherit_engines=False)
    first.wait_ready()
    second.wait_ready()
    # The same username on both: two separate meshes, not one answering twice.
    for up in (first, second):
        token = register(up.url, "alice")
        me = httpx.get(
            f"{up.url}/api/v1/users/by-username/alice",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert me.status_code == 200
        metrics = httpx.get(f"http://127.0.0.1:{up.base + 8}/metrics", timeout=30)
        assert "shutter_rpc_requests_total" in metrics.text
    for up in (first, second):
        assert up.interrupt() < STOP_TIMEOUT
        assert up.process.returncode == 0
