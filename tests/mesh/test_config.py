"""Settings from the environment: a bad value of any setting is one line naming the variable, its
value and what is allowed; empty means unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_proxy.settings import EdgeSettings
from media_svc.settings import MediaSettings
from mesh.config import MeshSettings, SettingsError, load_settings
from mesh.preflight import PlannedPort, port_problems, settings_problems
from mesh.services import MESH
from post_svc.settings import PostSettings

PORT = "a port number, 1 to 65535 (0 picks a free one)"
ADDRESS = "host:port, such as 127.0.0.1:50051 ([address]:port for IPv6; port 0 picks a free one)"
DATABASE = (
    "a database URL: postgresql://user[:password]@host[:port]/database "
    "(or postgresql+psycopg://...), or sqlite:///path/to/file.db"
)
REDIS = (
    "a Redis URL: redis://host:port/db, rediss://host:port/db (TLS), "
    "redis+cluster://host:port or unix:///path/to/redis.sock"
)
HTTP = "an http:// or https:// URL, such as http://127.0.0.1:8080"


def problems(monkeypatch: pytest.MonkeyPatch, cls: type[MeshSettings], **env: str) -> list[str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(cls)
    return caught.value.lines


@pytest.mark.parametrize(
    ("cls", "variable", "value", "allowed"),
    [
        (EdgeSettings, "SHUTTER_EDGE_PORT", "abc", PORT),
        (EdgeSettings, "SHUTTER_EDGE_PORT", "99999", PORT),
        (EdgeSettings, "SHUTTER_EDGE_PORT", "-1", PORT),
        (
            EdgeSettings,
            "SHUTTER_EDGE_HOST",
            "my host",
            "a host name or IP address, such as 127.0.0.1 or 0.0.0.0",
        ),
        (MeshSettings, "SHUTTER_METRICS_PORT", "65536", PORT + ", or empty for unset"),
        (MeshSettings, "SHUTTER_USER_SVC_ADDR", "nonsense", ADDRESS),
        (MeshSettings, "SHUTTER_FEED_SVC_ADDR", "127.0.0.1:", ADDRESS),
        (MeshSettings, "SHUTTER_FEED_SVC_ADDR", "127.0.0.1:70000", ADDRESS),
        (MeshSettings, "SHUTTER_NOTIFY_SVC_ADDR", "::1:50056", ADDRESS),
        (MeshSettings, "SHUTTER_DATABASE_URL", "notaurl", DATABASE),
        (MeshSettings, "SHUTTER_DATABASE_URL", "mysql://db/shutter", DATABASE),
        (MeshSettings, "SHUTTER_DATABASE_URL", "postgresql://db", DATABASE),
        (MeshSettings, "SHUTTER_DATABASE_REPLICA_URL", "replica", DATABASE),
        (MeshSettings, "SHUTTER_REDIS_URL", "localhost:6379", REDIS),
        (MeshSettings, "SHUTTER_OTLP_ENDPOINT", "collector:4318", HTTP),
        (MeshSettings, "SHUTTER_MEDIA_BASE_URL", "/media/", HTTP),
        (
            MeshSettings,
            "SHUTTER_LOG_LEVEL",
            "loud",
            "one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case)",
        ),
        (MeshSettings, "SHUTTER_LOG_JSON", "maybe", "true or false (also 1/0, yes/no, on/off)"),
        (MeshSettings, "SHUTTER_ID_SHARD", "8192", "a whole number from 0 to 8191"),
        (MeshSettings, "SHUTTER_DB_POOL_SIZE", "0", "a whole number from 1 to 500"),
        (MeshSettings, "SHUTTER_SHUTDOWN_GRACE_SECONDS", "-1", "a number, at least 0"),
        (MeshSettings, "SHUTTER_RPC_DEADLINE_SECONDS", "soon", "a number, greater than 0"),
        (MediaSettings, "SHUTTER_MEDIA_WORKERS", "-1", "a whole number from 1 to 64"),
        (MediaSettings, "SHUTTER_S3_ENDPOINT", "seaweed:8333", HTTP),
        (MediaSettings, "SHUTTER_PUBLIC_URL", "example.com", HTTP),
        (PostSettings, "SHUTTER_CASSANDRA_CONSISTENCY", "ONE", "one of LOCAL_QUORUM, QUORUM, ALL"),
    ],
)
def test_a_bad_value_is_one_line_saying_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch,
    cls: type[MeshSettings],
    variable: str,
    value: str,
    allowed: str,
) -> None:
    assert problems(monkeypatch, cls, **{variable: value}) == [f"{variable}={value}: {allowed}"]


def test_the_variable_named_is_the_one_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # A service's own variable wins over the shared one, so it is the one reported; a URL's
    # password is not printed.
    lines = problems(
        monkeypatch,
        PostSettings,
        SHUTTER_DATABASE_URL="postgresql://db/shutter",
        SHUTTER_POST_SVC_DATABASE_URL="postgresql://alice:secret@db",
    )
    assert lines == [f"SHUTTER_POST_SVC_DATABASE_URL=postgresql://alice:***@db: {DATABASE}"]
    monkeypatch.setenv("SHUTTER_POST_SVC_DATABASE_URL", "")
    monkeypatch.setenv("SHUTTER_DATABASE_URL", "nope")
    assert problems(monkeypatch, PostSettings) == [f"SHUTTER_DATABASE_URL=nope: {DATABASE}"]


def test_variables_are_matched_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems(monkeypatch, EdgeSettings, shutter_edge_port="x") == [
        f"shutter_edge_port=x: {PORT}"
    ]


def test_every_bad_setting_is_reported_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUTTER_EDGE_PORT", "abc")
    monkeypatch.setenv("SHUTTER_MEDIA_WORKERS", "0")
    classes: list[type[MeshSettings]] = [EdgeSettings]
    classes += [spec.settings_type() for spec in MESH]
    assert settings_problems(classes) == [
        f"SHUTTER_EDGE_PORT=abc: {PORT}",
        "SHUTTER_MEDIA_WORKERS=0: a whole number from 1 to 64",
    ]


def test_empty_means_unset_and_good_values_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("SHUTTER_DATABASE_URL", "SHUTTER_REDIS_URL", "SHUTTER_METRICS_PORT"):
        monkeypatch.setenv(key, "")
    settings = load_settings(MeshSettings)
    assert (settings.database_url, settings.redis_url, settings.metrics_port) == (None, None, None)
    good = {
        "SHUTTER_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/shutter",
        "SHUTTER_DATABASE_REPLICA_URL": "sqlite:////tmp/replica.db",
        "SHUTTER_REDIS_URL": "redis+cluster://127.0.0.1:7000",
        "SHUTTER_USER_SVC_ADDR": "[::1]:0",
        "SHUTTER_GRAPH_SVC_ADDR": "graph.internal:50052",
        "SHUTTER_LOG_LEVEL": "debug",
        "SHUTTER_OTLP_ENDPOINT": "https://collector.example.com:4318",
    }
    for key, value in good.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(MeshSettings)
    assert settings.log_level == "DEBUG"
    assert settings.user_svc_addr == "[::1]:0"


def test_a_port_in_use_or_planned_twice_names_its_setting() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        lines = port_problems(
            [
                PlannedPort(f"SHUTTER_EDGE_PORT={port}", "the edge", "127.0.0.1", port),
                PlannedPort("SHUTTER_USER_SVC_ADDR=127.0.0.1:0", "user_svc gRPC", "127.0.0.1", 0),
            ]
        )
    assert lines == [
        f"SHUTTER_EDGE_PORT={port}: port {port} (the edge) is in use; stop what listens there "
        "or choose another port"
    ]
    # Free now, but wanted by two processes.
    twice = port_problems(
        [
            PlannedPort(f"SHUTTER_EDGE_PORT={port}", "the edge", "127.0.0.1", port),
            PlannedPort(f"SHUTTER_METRICS_PORT={port}", "metrics", "127.0.0.1", port),
        ]
    )
    assert twice == [
        f"SHUTTER_METRICS_PORT={port}: port {port} (metrics) is also the port of the edge "
        f"(SHUTTER_EDGE_PORT={port}); give each its own"
    ]


def test_a_data_dir_that_cannot_be_made_and_missing_key_files_are_named(tmp_path: Path) -> None:
    from mesh.preflight import file_problems

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert file_problems(MeshSettings(data_dir=blocker)) == [
        f"SHUTTER_DATA_DIR={blocker}: a directory that can be created and written (File exists)"
    ]
    missing = tmp_path / "nope.pem"
    lines = file_problems(MeshSettings(data_dir=tmp_path / "data", jwt_public_key_file=missing))
    assert lines == [
        f"SHUTTER_JWT_PRIVATE_KEY_FILE={tmp_path / 'data' / 'keys' / 'jwt_ed25519.pem'}: an "
        "existing PEM key file (with configured key files, both must exist; unset both to "
        "generate keys into the data dir)",
        f"SHUTTER_JWT_PUBLIC_KEY_FILE={missing}: an existing PEM key file (with configured key "
        "files, both must exist; unset both to generate keys into the data dir)",
    ]
    assert file_problems(MeshSettings(data_dir=tmp_path / "fresh")) == []
