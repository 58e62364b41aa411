"""What a load phase costs the mesh: CPU seconds each process spent, per request answered.

Throughput on a small machine is bounded by the CPU all processes together spend per request, so
this is what explains a scenario's ratio to its baseline: the empty RPC costs one process a
fraction of a millisecond, a hydrated feed page costs several processes several each. Read from
the OS (psutil) for the process listening on each address; processes sharing one pid (the
embedded mesh) are counted once, under the first name.
"""

from __future__ import annotations

from typing import Any

import psutil

from bench.memory import listening_pids, port_of
from mesh.config import MeshSettings
from mesh.services import MESH


def cpu_seconds(addresses: dict[str, str]) -> dict[str, float]:
    """Return the CPU seconds (user + system) each named process has used so far."""
    pids = listening_pids()
    seen: set[int] = set()
    used: dict[str, float] = {}
    for name, address in addresses.items():
        pid = pids.get(port_of(address))
        if pid is None or pid in seen:
            continue
        seen.add(pid)
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        used[name] = times.user + times.system
    return used


def per_request(
    before: dict[str, float], after: dict[str, float], *, seconds: float, throughput: float
) -> dict[str, Any]:
    """Return CPU milliseconds per request by process, and their total: each process's CPU
    rate over the phase (`seconds`, warm-up included) over the phase's measured throughput."""
    spent = {n: after[n] - before[n] for n in after if n in before}
    if not throughput or seconds <= 0:
        return {"cpu_ms_per_request": {}, "total_cpu_ms_per_request": None}
    each = {n: round(1000 * s / seconds / throughput, 3) for n, s in spent.items()}
    return {"cpu_ms_per_request": each, "total_cpu_ms_per_request": round(sum(each.values()), 3)}


def mesh_addresses(manifest: dict[str, Any]) -> dict[str, str]:
    """Return where each process of the seeded mesh listens: every service (those a manifest
    does not name, at the settings' addresses) and the edge."""
    settings = MeshSettings()
    addresses = {
        spec.name: manifest["grpc"].get(spec.name) or settings.address_of(spec.name)
        for spec in MESH
    }
    edge = str(manifest.get("edge_url", "")).removeprefix("http://").removeprefix("https://")
    if edge:
        addresses["edge"] = edge.split("/")[0]
    return addresses
