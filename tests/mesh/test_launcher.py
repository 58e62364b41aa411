"""Starting the mesh: a port in use is a clear error, and nothing is left running."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mesh.launcher import StartupError, start_mesh
from mesh.services import MESH


async def test_an_edge_port_in_use_stops_everything_with_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        overrides: dict[str, object] = {"data_dir": tmp_path, "edge_port": port}
        overrides.update({f"{spec.name}_addr": "127.0.0.1:0" for spec in MESH})
        with pytest.raises(StartupError, match=f"could not listen on 127.0.0.1:{port}"):
            await start_mesh(overrides=overrides)
    # Every service was stopped: starting again on fresh ports works.
    overrides["edge_port"] = 0
    mesh = await start_mesh(overrides=overrides)
    await mesh.stop(grace=0)


async def test_a_service_port_in_use_names_the_service(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        overrides: dict[str, object] = {"data_dir": tmp_path, "edge_port": 0}
        overrides.update({f"{spec.name}_addr": "127.0.0.1:0" for spec in MESH})
        overrides["graph_svc_addr"] = f"127.0.0.1:{port}"
        with pytest.raises(RuntimeError, match="graph_svc could not listen"):
            await start_mesh(overrides=overrides)


def test_free_ports_are_bindable_and_below_the_ephemeral_range() -> None:
    import socket

    from mesh.launcher import _ephemeral_low, free_port

    for _ in range(20):
        port = free_port()
        # Outgoing connections take their ports from the ephemeral range: never hand one out.
        assert port < _ephemeral_low()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
