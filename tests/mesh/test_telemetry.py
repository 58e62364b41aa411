"""Tracing is on only when something receives the spans: a process configured with no exporter
opens no span anywhere (no RPC interceptor, no edge middleware, no statement or Redis wrapper).

configure() runs once per process and this suite keeps its own tracer provider, so each case runs
in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json
from mesh import telemetry
from mesh.config import MeshSettings
from edge_proxy.app import create_app
from edge_proxy.settings import EdgeSettings
from mesh.clients import Channels

telemetry.configure(MeshSettings(), process_name="probe")
settings = EdgeSettings()
app = create_app(settings, Channels(settings))
print(json.dumps({
    "tracing": telemetry.tracing(),
    "server": len(telemetry.server_interceptors()),
    "client": len(telemetry.client_interceptors()),
    "edge": [m.cls.__name__ for m in app.user_middleware],
}))
"""


def probe(tmp_path: Path, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHUTTER_")}
    clean.update(SHUTTER_DATA_DIR=str(tmp_path / "data"), **env)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=clean, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_with_no_exporter_no_span_is_opened_anywhere(tmp_path: Path) -> None:
    found = probe(tmp_path)
    assert (found["tracing"], found["server"], found["client"]) == (False, 0, 0)
    assert "OpenTelemetryMiddleware" not in found["edge"]  # type: ignore[operator]


@pytest.mark.parametrize(
    "setting", ["SHUTTER_TRACE_FILE", "SHUTTER_TRACE_CONSOLE", "SHUTTER_LOG_JSON"]
)
def test_an_exporter_or_json_logs_turn_every_instrument_on(tmp_path: Path, setting: str) -> None:
    value = str(tmp_path / "spans.jsonl") if setting == "SHUTTER_TRACE_FILE" else "true"
    found = probe(tmp_path, **{setting: value})
    assert found["tracing"] is True and found["server"] == 1
    assert isinstance(found["client"], int) and found["client"] >= 1
    assert found["edge"][0] == "OpenTelemetryMiddleware"  # type: ignore[index]
