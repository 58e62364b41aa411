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


async def test_a_picked_port_taken_before_its_service_binds_it_is_picked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mesh picks free ports for the services the settings leave to it; another process may
    bind one before its service does (the services before it start in between). The mesh then
    starts again on fresh picks instead of failing."""
    from mesh import launcher

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        picks: list[int] = []
        real = launcher.free_port

        def pick(host: str = "127.0.0.1") -> int:
            # The third service's pick on the first start is the port another process holds.
            picks.append(port if len(picks) == 2 else real(host))
            return picks[-1]

        monkeypatch.setattr(launcher, "free_port", pick)
        overrides: dict[str, object] = {"data_dir": tmp_path, "edge_port": 0}
        overrides.update({f"{spec.name}_addr": "127.0.0.1:0" for spec in MESH})
        mesh = await start_mesh(overrides=overrides)
        try:
            assert picks.count(port) == 1
            assert f"127.0.0.1:{port}" not in mesh.addresses.values()
            assert len(picks) > len(MESH) + 1  # started again, on fresh picks
        finally:
            await mesh.stop(grace=0)
