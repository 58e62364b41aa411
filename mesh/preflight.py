"""Checks run before anything starts: the settings of every process, the ports they will bind,
the files they need. Each problem is one line naming the setting, so an operator fixes it
without reading a traceback, and nothing is left half-started."""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings

from mesh.config import MeshSettings, SettingsError, env_variables, load_settings, split_address


@dataclass(frozen=True)
class PlannedPort:
    """A port a process of the mesh will listen on, and the setting that chose it."""

    # What the operator changes, as printed: "SHUTTER_EDGE_PORT=8080", "--port-base=20000".
    setting: str
    # What listens there: "the edge", "post_svc (gRPC)", "feed_svc metrics".
    what: str
    host: str
    port: int


def settings_problems(classes: Sequence[type[BaseSettings]]) -> list[str]:
    """Return one line per bad setting among every class (each variable once)."""
    lines: list[str] = []
    for cls in classes:
        try:
            load_settings(cls)
        except SettingsError as exc:
            lines += [line for line in exc.lines if line not in lines]
    return lines


def _bind_problem(host: str, port: int) -> str | None:
    """Return why (host, port) cannot be listened on now, or None when it can."""
    bare = host[1:-1] if host.startswith("[") else host
    try:
        infos = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return f"the host {host} does not resolve"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As servers bind: connections of a previous run still in TIME_WAIT do not count as use
        # (on Linux a listening socket still does).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is in use; stop what listens there or choose another port"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"cannot be bound: {host} is not an address of this machine"
            if exc.errno == errno.EACCES:
                return "needs privileges to bind (ports below 1024); choose a port above 1023"
            return f"cannot be bound: {exc.strerror}"
    return None


def port_problems(planned: Sequence[PlannedPort]) -> list[str]:
    """Return one line per planned port that is taken, or planned twice (port 0 is free)."""
    lines: list[str] = []
    owners: dict[int, PlannedPort] = {}
    for item in planned:
        if item.port == 0:
            continue
        first = owners.get(item.port)
        if first is not None:
            lines.append(
                f"{item.setting}: port {item.port} ({item.what}) is also the port of {first.what} "
                f"({first.setting}); give each its own"
            )
            continue
        owners[item.port] = item
        problem = _bind_problem(item.host, item.port)
        if problem is not None:
            lines.append(f"{item.setting}: port {item.port} ({item.what}) {problem}")
    return lines


def service_port(settings: MeshSettings, service: str) -> PlannedPort:
    """Return the gRPC port a service binds, named by its SHUTTER_<SVC>_ADDR."""
    address = settings.address_of(service)
    _, port = split_address(address)
    variable = env_variables(type(settings), f"{service}_addr")[0]
    return PlannedPort(f"{variable}={address}", f"{service} gRPC", settings.host, port)


def file_problems(settings: MeshSettings) -> list[str]:
    """Return a line for a data directory that cannot be made, or configured key files that are
    missing (the keys are generated only when neither is set)."""
    lines = []
    if not settings.data_dir.is_dir():
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            lines.append(
                f"SHUTTER_DATA_DIR={settings.data_dir}: a directory that can be created and "
                f"written ({exc.strerror})"
            )
    keys: list[tuple[str, Path | None]] = [
        ("SHUTTER_JWT_PRIVATE_KEY_FILE", settings.jwt_private_key_file),
        ("SHUTTER_JWT_PUBLIC_KEY_FILE", settings.jwt_public_key_file),
    ]
    if any(path is not None for _, path in keys):
        for variable, path in keys:
            path = path or (
                settings.private_key_path()
                if variable.endswith("PRIVATE_KEY_FILE")
                else settings.public_key_path()
            )
            if not path.is_file():
                lines.append(
                    f"{variable}={path}: an existing PEM key file (with configured key files, "
                    "both must exist; unset both to generate keys into the data dir)"
                )
    return lines
