"""The `shutter` command: run the mesh, generate code, check and test the project, migrate."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bench.cli import app as bench_app
from mesh import codegen
from mesh.admin_cli import app as admin_app
from mesh.bus_cli import app as bus_app

if TYPE_CHECKING:
    from edge_proxy.settings import EdgeSettings

ROOT = codegen.ROOT
app = typer.Typer(help="Shutter: a photo and video sharing backend as a mesh of gRPC services.")
app.add_typer(bench_app, name="bench")
app.add_typer(bus_app, name="bus")
app.add_typer(admin_app, name="admin")
console = Console(stderr=True)


DEFAULT_ENGINE_URLS = {
    "SHUTTER_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/shutter",
    "SHUTTER_REDIS_URL": "redis://127.0.0.1:6379/0",
}
# Each supervised process serves its Prometheus metrics on its own port, counting up from here.
FIRST_METRICS_PORT = 9101


# `--port-base N`: the edge on N, the services on the next ports in this order, then the metrics
# ports of every process (in `metrics_ports` order).
PORT_BASE_ORDER = (
    "user_svc",
    "graph_svc",
    "post_svc",
    "media_svc",
    "feed_svc",
    "notify_svc",
    "message_svc",
)
PORT_BASE_SPAN = 1 + len(PORT_BASE_ORDER) + len(PORT_BASE_ORDER) + 1


def port_base_environment(base: int) -> dict[str, str]:
    """Return the variables `--port-base` sets: edge, services, then the first metrics port."""
    env = {"SHUTTER_EDGE_PORT": str(base)}
    for i, name in enumerate(PORT_BASE_ORDER, start=1):
        env[f"SHUTTER_{name.upper()}_ADDR"] = f"127.0.0.1:{base + i}"
    env["SHUTTER_METRICS_PORT"] = str(base + len(PORT_BASE_ORDER) + 1)
    return env


@app.command()
def up(
    edge_port: Annotated[
        int | None, typer.Option(help="HTTP port of the edge (default 8080, SHUTTER_EDGE_PORT).")
    ] = None,
    port_base: Annotated[
        int | None,
        typer.Option(
            help="Put every port of this mesh from this one up: the edge on it, the six "
            "services on the next six, metrics after them (14 ports), so a second mesh runs "
            "beside the first. Overrides SHUTTER_EDGE_PORT, SHUTTER_<SVC>_ADDR and "
            "SHUTTER_METRICS_PORT."
        ),
    ] = None,
    engines: Annotated[
        bool,
        typer.Option(
            help="Run every service as its own process on PostgreSQL and Redis (local defaults "
            "for any SHUTTER_DATABASE_URL / SHUTTER_REDIS_URL not set)."
        ),
    ] = False,
) -> None:
    """Run every service and the HTTP edge. Embedded defaults run in this one process; with
    --engines, or with SHUTTER_DATABASE_URL / SHUTTER_REDIS_URL set, each service is its own
    supervised process. Ctrl-C stops everything cleanly."""
    from mesh.config import exit_with

    port_label: str | None = None
    if port_base is not None:
        highest = 65_535 - PORT_BASE_SPAN + 1
        if not 1 <= port_base <= highest:
            exit_with(
                [
                    f"--port-base={port_base}: a port number from 1 to {highest}, so that the "
                    f"{PORT_BASE_SPAN} ports from it fit"
                ]
            )
        os.environ.update(port_base_environment(port_base))
        port_label = f"--port-base={port_base}"
    if edge_port is not None:
        os.environ["SHUTTER_EDGE_PORT"] = str(edge_port)
    if engines:
        for key, url in DEFAULT_ENGINE_URLS.items():
            os.environ.setdefault(key, url)
    settings = _checked_settings()
    processes = engines or bool(settings.database_url or settings.redis_url)
    problems = _port_problems(settings, processes=processes, label=port_label)
    if problems:
        exit_with(problems)
    if processes:
        if settings.database_url:
            _ensure_database(settings.database_url)
        if settings.redis_url:
            _check_redis(settings.redis_url)
        asyncio.run(_up_processes())
    else:
        asyncio.run(_up_embedded())


def _ensure_database(url: str) -> None:
    """Create the shared PostgreSQL database if missing; one line and exit 1 when the server
    cannot be reached (every service would fail on it)."""
    import psycopg

    from mesh import db
    from mesh.config import MeshSettings, env_variables, exit_with, masked

    try:
        db.ensure_database(url)
    except psycopg.Error as exc:
        variable = env_variables(MeshSettings, "database_url")[0]
        reason = " ".join(str(exc).split())
        exit_with([f"{variable}={masked(url)}: cannot reach the database: {reason}"], code=1)


def _check_redis(url: str) -> None:
    """One line and exit 1 when Redis cannot be reached, rather than every service failing on
    it and being restarted over and over."""
    import redis
    import redis.exceptions

    from mesh.config import exit_with, masked
    from mesh.redis import CLUSTER_SCHEME

    # Any node of a cluster answers PING.
    node = "redis://" + url.removeprefix(CLUSTER_SCHEME) if url.startswith(CLUSTER_SCHEME) else url
    client = redis.Redis.from_url(node, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        reason = " ".join(str(exc).split())
        exit_with([f"SHUTTER_REDIS_URL={masked(url)}: cannot reach Redis: {reason}"], code=1)
    finally:
        client.close()


def _checked_settings() -> EdgeSettings:
    """Return the edge's settings once every process's settings, files and directories are
    known to be usable; otherwise print each problem on one line and exit."""
    from pydantic_settings import BaseSettings

    from edge_proxy.settings import EdgeSettings
    from mesh.config import exit_with
    from mesh.preflight import file_problems, settings_problems
    from mesh.services import MESH

    classes: list[type[BaseSettings]] = [EdgeSettings]
    classes += [spec.settings_type() for spec in MESH]
    problems = settings_problems(classes)
    if problems:
        exit_with(problems)
    settings = EdgeSettings()
    problems = file_problems(settings)
    if problems:
        exit_with(problems)
    return settings


def _port_problems(settings: EdgeSettings, *, processes: bool, label: str | None) -> list[str]:
    """Return a line for every port the mesh will bind that is taken (before anything starts)."""
    from mesh.preflight import PlannedPort, port_problems, service_port
    from mesh.services import MESH

    planned = [
        PlannedPort(
            label or f"SHUTTER_EDGE_PORT={settings.edge_port}",
            "the edge",
            settings.edge_host,
            settings.edge_port,
        )
    ]
    for spec in MESH:
        grpc_port = service_port(settings, spec.name)
        setting = label or grpc_port.setting
        planned.append(PlannedPort(setting, grpc_port.what, grpc_port.host, grpc_port.port))
    if processes:
        first = settings.metrics_port or FIRST_METRICS_PORT
        for name, port in metrics_ports(settings.metrics_port).items():
            host = settings.edge_host if name == "edge_proxy" else settings.host
            setting = label or f"SHUTTER_METRICS_PORT={first}"
            planned.append(PlannedPort(setting, f"{name} metrics", host, port))
    elif settings.metrics_port:
        setting = label or f"SHUTTER_METRICS_PORT={settings.metrics_port}"
        planned.append(PlannedPort(setting, "metrics", settings.host, settings.metrics_port))
    return port_problems(planned)


def _print_mesh(edge_url: str, addresses: dict[str, str], storage: str) -> None:
    table = Table(title="Shutter is up", show_header=True)
    table.add_column("service")
    table.add_column("address")
    table.add_row("edge (HTTP)", edge_url)
    for name, address in addresses.items():
        table.add_row(f"{name} (gRPC)", address)
    console.print(table)
    console.print(f"storage: {storage}")
    console.print(f"try: curl {edge_url}/readyz    (Ctrl-C stops)")
    print(edge_url, flush=True)  # noqa: T201 - the one line scripts read from stdout


async def _up_embedded() -> None:
    from mesh import heap, server, telemetry
    from mesh.config import MeshSettings
    from mesh.launcher import start_mesh

    settings = MeshSettings()
    telemetry.configure(settings, process_name="shutter")
    try:
        mesh = await start_mesh()
    except RuntimeError as exc:
        console.print(f"[red]shutter could not start:[/red] {exc}")
        raise typer.Exit(1) from None
    _print_mesh(
        str(mesh.edge_url), mesh.addresses, f"SQLite files in {settings.data_dir.resolve()}"
    )
    heap.freeze_startup_heap()
    if settings.metrics_port:
        console.print(f"metrics: http://{settings.host}:{settings.metrics_port}/metrics")
    try:
        await server.run_until_signalled([], settings.shutdown_grace_seconds)
    finally:
        await mesh.stop(settings.shutdown_grace_seconds)
        console.print("stopped")


def metrics_ports(first_port: int | None = None) -> dict[str, int]:
    """Return the metrics port of each process `shutter up --engines` runs, in start order.

    SHUTTER_METRICS_PORT, when set, is the first of these consecutive ports, so two meshes on
    one machine can each have their own.
    """
    from mesh.services import MESH

    names = [spec.name for spec in MESH] + ["edge_proxy"]
    first = first_port or FIRST_METRICS_PORT
    return {name: first + i for i, name in enumerate(names)}


async def _up_processes() -> None:
    from edge_proxy.settings import EdgeSettings
    from mesh import server, telemetry
    from mesh.config import masked
    from mesh.services import MESH
    from mesh.supervisor import Supervisor, module_child

    settings = EdgeSettings()
    telemetry.configure(settings, process_name="shutter-supervisor")
    addresses = {spec.name: settings.address_of(spec.name) for spec in MESH}
    shared = {f"SHUTTER_{name.upper()}_ADDR": address for name, address in addresses.items()}
    edge_url = f"http://{settings.edge_host}:{settings.edge_port}"
    shared.setdefault("SHUTTER_PUBLIC_URL", os.environ.get("SHUTTER_PUBLIC_URL", edge_url))
    shared.setdefault(
        "SHUTTER_MEDIA_BASE_URL", os.environ.get("SHUTTER_MEDIA_BASE_URL", f"{edge_url}/media/")
    )
    ports = metrics_ports(settings.metrics_port)
    children = [
        module_child(name, name, {**shared, "SHUTTER_METRICS_PORT": str(port)})
        for name, port in ports.items()
    ]
    supervisor = Supervisor(
        children, grace_seconds=settings.shutdown_grace_seconds + 5, stop_first=["edge_proxy"]
    )
    await supervisor.start()
    database = (
        masked(settings.database_url)
        if settings.database_url
        else f"SQLite files in {settings.data_dir.resolve()}"
    )
    _print_mesh(edge_url, addresses, f"{database}; Redis at {masked(settings.redis_url or '')}")
    for name, port in ports.items():
        console.print(f"{name} metrics: http://127.0.0.1:{port}/metrics")
    try:
        await server.run_until_signalled([], settings.shutdown_grace_seconds)
    finally:
        await supervisor.stop()
        console.print("stopped")


@app.command()
def gen(
    check: Annotated[
        bool, typer.Option(help="Only report whether generated/ is fresh; change nothing.")
    ] = False,
) -> None:
    """Generate generated/ from protos/ (messages, .pyi stubs, gRPC stubs)."""
    codegen.export_proto_deps()
    if check:
        stale = codegen.stale_files()
        if stale:
            console.print(
                "[red]generated/ is stale; run `./shutter gen`:[/red] " + ", ".join(stale)
            )
            raise typer.Exit(1)
        console.print("generated/ is fresh")
        return
    codegen.regenerate()
    console.print("generated/ written")


def _buf() -> str:
    """Return the buf CLI from the project's npm tools, installed from package-lock.json on first
    use and again whenever the lock changes."""
    import hashlib

    buf = ROOT / "node_modules" / ".bin" / "buf"
    stamp = ROOT / "node_modules" / ".shutter-lock.sha256"
    want = hashlib.sha256((ROOT / "package-lock.json").read_bytes()).hexdigest()
    if not buf.exists() or not stamp.exists() or stamp.read_text() != want:
        npm = shutil.which("npm")
        if npm is None:
            raise typer.BadParameter("buf comes from npm, and npm is not installed")
        console.print("installing the npm tools (buf) from package-lock.json...")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
        stamp.write_text(want)
    return str(buf)


def _run(title: str, args: list[str]) -> bool:
    console.rule(title)
    ok = subprocess.run(args, cwd=ROOT).returncode == 0
    console.print("[green]ok[/green]" if ok else f"[red]{title} failed[/red]")
    return ok


def run_checks() -> bool:
    """Run every static check; return whether all passed."""
    python = sys.executable
    codegen.export_proto_deps()
    buf = _buf()
    results = [
        _run("ruff format", [python, "-m", "ruff", "format", "--check", "."]),
        _run("ruff lint", [python, "-m", "ruff", "check", "."]),
        _run("mypy", [python, "-m", "mypy", "."]),
        _run("buf lint", [buf, "lint"]),
        _run("buf format", [buf, "format", "--diff", "--exit-code"]),
        _run("generated code is fresh", [python, "-m", "mesh.cli", "gen", "--check"]),
    ]
    return all(results)


@app.command()
def check(
    fresh_clone: Annotated[
        bool,
        typer.Option(
            help="Clone the committed HEAD into a temporary directory and run the checks there, "
            "from an empty virtual environment bootstrapped from uv.lock (what a new machine sees)."
        ),
    ] = False,
) -> None:
    """Run the static checks: formatting, lint, types, buf lint and format, fresh generated code."""
    if fresh_clone:
        _check_fresh_clone()
        return
    if not run_checks():
        raise typer.Exit(1)


def _check_fresh_clone() -> None:
    """Run `./shutter check` in a new clone of HEAD with nothing installed; report the timing."""
    import tempfile
    import time

    with tempfile.TemporaryDirectory(prefix="shutter-fresh-clone-") as tmp:
        clone = Path(tmp) / "shutter"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        # Nothing of this environment may leak in: the clone bootstraps its own .venv and tools.
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env["PATH"] = os.pathsep.join(
            p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))
        )
        started = time.monotonic()
        console.rule(f"fresh clone of HEAD in {clone}")
        result = subprocess.run([str(clone / "shutter"), "check"], cwd=clone, env=env)
        elapsed = time.monotonic() - started
    if result.returncode != 0:
        console.print(f"[red]a fresh clone fails its static checks ({elapsed:.0f} s)[/red]")
        raise typer.Exit(1)
    console.print(f"[green]a fresh clone passes its static checks[/green] ({elapsed:.0f} s)")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def test(
    ctx: typer.Context,
    checks: Annotated[bool, typer.Option(help="Run the static checks before the tests.")] = True,
    embedded: Annotated[
        bool, typer.Option(help="Run the suite on the embedded defaults (SQLite, in-process).")
    ] = True,
    engines: Annotated[
        bool,
        typer.Option(help="Run the suite again on PostgreSQL and Redis (127.0.0.1)."),
    ] = True,
) -> None:
    """Run the static checks, then the whole test suite on the embedded defaults and again on
    the real engines (extra arguments go to pytest)."""
    if checks and not run_checks():
        raise typer.Exit(1)
    runs = [("embedded", "0")] if embedded else []
    if engines:
        runs.append(("engines", "1"))
    failed = []
    for name, flag in runs:
        console.rule(f"pytest: {name}")
        env = {**os.environ, "SHUTTER_TEST_ENGINES": flag}
        pytest = [sys.executable, "-m", "pytest", *ctx.args]
        if subprocess.run(pytest, cwd=ROOT, env=env).returncode != 0:
            failed.append(name)
    if failed:
        console.print(f"[red]tests failed on: {', '.join(failed)}[/red]")
        raise typer.Exit(1)


class SettingsFormat(StrEnum):
    """How `shutter settings` prints."""

    env = "env"
    json = "json"
    table = "table"


@dataclass(frozen=True)
class SettingRow:
    """One environment variable of the mesh, as `shutter settings` lists it."""

    variable: str
    default: str
    used_by: str
    meaning: str


def setting_rows() -> list[SettingRow]:
    """Return every setting of the mesh and its services, each variable once, in order."""
    from edge_proxy.settings import EdgeSettings
    from mesh.config import MeshSettings, env_variables
    from mesh.services import MESH

    classes: list[tuple[str, type[MeshSettings]]] = [("every process", MeshSettings)]
    classes += [(spec.name, spec.settings_type()) for spec in MESH]
    classes.append(("edge_proxy", EdgeSettings))
    rows: list[SettingRow] = []
    seen: set[str] = set()
    for owner, cls in classes:
        for name, info in cls.model_fields.items():
            variable = env_variables(cls, name)[0]
            if variable in seen:
                continue
            seen.add(variable)
            default = info.default
            # Booleans as an env file writes them; None is unset.
            text = str(default).lower() if isinstance(default, bool) else str(default)
            text = "" if default is None else text
            rows.append(SettingRow(variable, text, owner, info.description or ""))
    return rows


@app.command()
def settings(
    format: Annotated[
        SettingsFormat | None,
        typer.Option(
            "--format",
            help="table (for reading; the default on a terminal), env (an env file: one "
            "VARIABLE=default line each, meaning above it; the default when piped) or json.",
        ),
    ] = None,
) -> None:
    """List every setting of the mesh and its services: variable, default and meaning."""
    chosen = format or (SettingsFormat.table if sys.stdout.isatty() else SettingsFormat.env)
    rows = setting_rows()
    if chosen is SettingsFormat.json:
        body = [
            {
                "variable": r.variable,
                "default": r.default,
                "usedBy": r.used_by,
                "meaning": r.meaning,
            }
            for r in rows
        ]
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    elif chosen is SettingsFormat.env:
        sys.stdout.write(_settings_env(rows))
    else:
        _settings_table(rows)


def _settings_env(rows: list[SettingRow]) -> str:
    """Return the settings as an env file: unset ones commented out, meanings as comments."""
    lines = ["# Shutter settings: every SHUTTER_* variable and its default (unset: the default)."]
    owner = None
    for row in rows:
        if row.used_by != owner:
            owner = row.used_by
            lines += ["", f"# --- {owner} ---"]
        if row.meaning:
            lines += [f"# {line}" for line in textwrap.wrap(row.meaning, 96)]
        assignment = f"{row.variable}={shlex.quote(row.default) if row.default else ''}"
        lines.append(assignment if row.default else f"# {assignment}")
    return "\n".join(lines) + "\n"


def _settings_table(rows: list[SettingRow]) -> None:
    """Print the settings for reading: names and defaults whole, meanings wrapped, a section
    per service, so it reads in 80 columns."""
    out = Console()
    table = Table(
        title="Settings (environment variables; unset means the default)",
        show_lines=False,
        expand=False,
    )
    table.add_column("variable = default", no_wrap=True, overflow="fold")
    table.add_column("meaning", ratio=1, overflow="fold")
    owner = None
    for row in rows:
        if row.used_by != owner:
            owner = row.used_by
            table.add_section()
            table.add_row(f"[bold]{owner}[/bold]", "")
        default = row.default if row.default else "(unset)"
        table.add_row(f"{row.variable}\n  = {default}", row.meaning)
    out.print(table)


@app.command()
def migrate() -> None:
    """Bring every service's database to its newest schema (safe to run again)."""
    asyncio.run(_migrate())


async def _migrate() -> None:
    from mesh import db
    from mesh.services import MESH

    for spec in MESH:
        settings = spec.settings()
        url = getattr(settings, "database_url", None)
        engine = db.create_engine(spec.name, settings, url)
        try:
            await db.migrate(engine, spec.name, spec.migrations_dir())
        finally:
            await engine.dispose()
        console.print(f"{spec.name}: migrated")


if __name__ == "__main__":
    app()
