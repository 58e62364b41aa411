"""The `shutter` command as an operator runs it: bad settings and ports in use are one line on
stderr with exit status 2 before anything starts, and `shutter settings` reads in every format."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mesh.cli import PORT_BASE_SPAN, app, port_base_environment
from mesh.codegen import ROOT
from mesh.launcher import free_port, free_port_run

PORT = "a port number, 1 to 65535 (0 picks a free one)"
ADDRESS = "host:port, such as 127.0.0.1:50051 ([address]:port for IPv6; port 0 picks a free one)"
IN_USE = "is in use; stop what listens there or choose another port"
SHUTTER = [sys.executable, "-m", "mesh.cli"]


def run(argv: list[str], data: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command of the project with only these SHUTTER_* variables (and a data dir)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHUTTER_")}
    clean.update(SHUTTER_DATA_DIR=str(data), **env)
    return subprocess.run(
        argv, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False
    )


def assert_refused(result: subprocess.CompletedProcess[str], line: str, data: Path) -> None:
    """Exit status 2, exactly this line on stderr, and nothing started: no edge URL on stdout,
    no database or key written."""
    assert (result.returncode, result.stderr, result.stdout) == (2, f"shutter: {line}\n", "")
    assert not data.exists() or not any(p.is_file() for p in data.rglob("*"))


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"SHUTTER_EDGE_PORT": "abc"}, f"SHUTTER_EDGE_PORT=abc: {PORT}"),
        ({"SHUTTER_EDGE_PORT": "99999"}, f"SHUTTER_EDGE_PORT=99999: {PORT}"),
        ({"SHUTTER_USER_SVC_ADDR": "nonsense"}, f"SHUTTER_USER_SVC_ADDR=nonsense: {ADDRESS}"),
        (
            {"SHUTTER_DATABASE_URL": "notaurl"},
            "SHUTTER_DATABASE_URL=notaurl: a database URL: postgresql://user[:password]@host"
            "[:port]/database (or postgresql+psycopg://...), or sqlite:///path/to/file.db",
        ),
        # Read by media_svc alone: still refused before any other service starts.
        ({"SHUTTER_MEDIA_WORKERS": "-1"}, "SHUTTER_MEDIA_WORKERS=-1: a whole number from 1 to 64"),
    ],
)
def test_shutter_up_refuses_a_bad_setting_in_one_line(
    tmp_path: Path, env: dict[str, str], line: str
) -> None:
    data = tmp_path / "data"
    assert_refused(run([*SHUTTER, "up"], data, **env), line, data)


def test_each_process_alone_refuses_bad_settings_the_same_way(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = run([sys.executable, "-m", "user_svc"], data, SHUTTER_USER_SVC_ADDR="x")
    assert_refused(service, f"SHUTTER_USER_SVC_ADDR=x: {ADDRESS}", data)
    edge = run([sys.executable, "-m", "edge_proxy"], data, SHUTTER_EDGE_PORT="99999")
    assert_refused(edge, f"SHUTTER_EDGE_PORT=99999: {PORT}", data)


def test_a_port_base_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run([*SHUTTER, "up", "--port-base", "65530"], data)
    line = "--port-base=65530: a port number from 1 to 65520, so that the 16 ports from it fit"
    assert_refused(result, line, data)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """Return a port something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        yield taken.getsockname()[1]


def _free_addresses() -> dict[str, str]:
    # Port 0 everywhere else: the test depends on no fixed port being free.
    names = ("USER", "GRAPH", "POST", "MEDIA", "FEED", "NOTIFY")
    return {f"SHUTTER_{name}_SVC_ADDR": "127.0.0.1:0" for name in names}


def test_a_grpc_port_in_use_names_the_setting_before_anything_starts(
    tmp_path: Path, taken_port: int
) -> None:
    data = tmp_path / "data"
    env = {**_free_addresses(), "SHUTTER_EDGE_PORT": "0"}
    env["SHUTTER_GRAPH_SVC_ADDR"] = f"127.0.0.1:{taken_port}"
    line = (
        f"SHUTTER_GRAPH_SVC_ADDR=127.0.0.1:{taken_port}: port {taken_port} (graph_svc gRPC) "
        + IN_USE
    )
    assert_refused(run([*SHUTTER, "up"], data, **env), line, data)
    alone = run([sys.executable, "-m", "graph_svc"], data, **env)
    assert_refused(alone, line, data)


def test_the_edge_and_metrics_ports_in_use_name_their_settings(
    tmp_path: Path, taken_port: int
) -> None:
    data = tmp_path / "data"
    env = {**_free_addresses(), "SHUTTER_EDGE_PORT": str(taken_port)}
    line = f"SHUTTER_EDGE_PORT={taken_port}: port {taken_port} (the edge) {IN_USE}"
    assert_refused(run([*SHUTTER, "up"], data, **env), line, data)
    assert_refused(run([sys.executable, "-m", "edge_proxy"], data, **env), line, data)
    env.update(SHUTTER_EDGE_PORT="0", SHUTTER_METRICS_PORT=str(taken_port))
    line = f"SHUTTER_METRICS_PORT={taken_port}: port {taken_port} (metrics) {IN_USE}"
    assert_refused(run([*SHUTTER, "up"], data, **env), line, data)


def test_a_port_base_names_itself_and_the_port_in_use(tmp_path: Path) -> None:
    data = tmp_path / "data"
    base = free_port_run(PORT_BASE_SPAN)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 3))  # post_svc's port
        taken.listen()
        result = run([*SHUTTER, "up", "--port-base", str(base)], data)
    line = f"--port-base={base}: port {base + 3} (post_svc gRPC) {IN_USE}"
    assert_refused(result, line, data)


def test_port_base_lays_out_edge_services_then_metrics() -> None:
    assert port_base_environment(20000) == {
        "SHUTTER_EDGE_PORT": "20000",
        "SHUTTER_USER_SVC_ADDR": "127.0.0.1:20001",
        "SHUTTER_GRAPH_SVC_ADDR": "127.0.0.1:20002",
        "SHUTTER_POST_SVC_ADDR": "127.0.0.1:20003",
        "SHUTTER_MEDIA_SVC_ADDR": "127.0.0.1:20004",
        "SHUTTER_FEED_SVC_ADDR": "127.0.0.1:20005",
        "SHUTTER_NOTIFY_SVC_ADDR": "127.0.0.1:20006",
        "SHUTTER_MESSAGE_SVC_ADDR": "127.0.0.1:20007",
        "SHUTTER_METRICS_PORT": "20008",
    }


# -- shutter settings ----------------------------------------------------------------------------

_VARIABLE = re.compile(r"SHUTTER_[A-Z0-9_]+")


def _settings(*args: str, columns: int = 80) -> str:
    result = CliRunner().invoke(app, ["settings", *args], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_settings_as_json_lists_every_variable_once_with_its_default() -> None:
    rows = json.loads(_settings("--format", "json"))
    variables = [row["variable"] for row in rows]
    assert len(variables) == len(set(variables))
    by_name = {row["variable"]: row for row in rows}
    assert by_name["SHUTTER_EDGE_PORT"]["default"] == "8080"
    assert by_name["SHUTTER_EDGE_PORT"]["usedBy"] == "edge_proxy"
    assert by_name["SHUTTER_DATABASE_URL"]["default"] == ""
    assert by_name["SHUTTER_MEDIA_WORKERS"]["usedBy"] == "media_svc"
    assert by_name["SHUTTER_CASSANDRA_CONNECT_TIMEOUT_SECONDS"]["default"] == "5.0"
    assert "argon2id" in by_name["SHUTTER_PASSWORD_HASH_WORKERS"]["meaning"]


def test_settings_as_env_is_an_env_file_and_the_default_when_piped() -> None:
    text = _settings()  # CliRunner's stdout is no terminal: env by default
    assert text == _settings("--format", "env")
    assignments: dict[str, str] = {}
    for line in text.splitlines():
        found = re.fullmatch(r"(?:# )?(SHUTTER_[A-Z0-9_]+)=(.*)", line)
        if found:
            assignments[found[1]] = found[2]
        else:  # everything else is a comment or a blank line
            assert not line or line.startswith("# "), line
    rows = json.loads(_settings("--format", "json"))
    assert set(assignments) == {row["variable"] for row in rows}
    assert "SHUTTER_EDGE_PORT=8080" in text.splitlines()
    assert "# SHUTTER_REDIS_URL=" in text.splitlines()  # unset: commented out
    assert "SHUTTER_LOG_JSON=false" in text.splitlines()


def test_settings_as_a_table_fits_80_columns_without_cutting_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _settings("--format", "table", columns=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    rows = json.loads(_settings("--format", "json"))
    names = set(_VARIABLE.findall(text))
    assert names == {row["variable"] for row in rows}
    assert "…" not in text
    # On a terminal the table is the default.
    from mesh import cli

    printed: list[str] = []
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(cli, "_settings_table", lambda rows: printed.append("table"))
    cli.settings(format=None)
    assert printed == ["table"]


def test_an_unreachable_database_is_one_line_before_any_service_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"postgresql://alice:secret@127.0.0.1:{free_port()}/shutter"  # nothing listens there
    base = str(free_port_run(PORT_BASE_SPAN))
    result = run([*SHUTTER, "up", "--port-base", base], data, SHUTTER_DATABASE_URL=url)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    masked = url.replace("secret", "***")
    assert line.startswith(f"shutter: SHUTTER_DATABASE_URL={masked}: cannot reach the database: ")
    assert "secret" not in result.stderr


def test_an_unreachable_redis_is_one_line_before_any_service_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"  # nothing listens there
    base = str(free_port_run(PORT_BASE_SPAN))
    result = run([*SHUTTER, "up", "--port-base", base], data, SHUTTER_REDIS_URL=url)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    masked = url.replace("secret", "***")
    assert line.startswith(f"shutter: SHUTTER_REDIS_URL={masked}: cannot reach Redis: ")
    assert "secret" not in result.stderr
