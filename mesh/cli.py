"""The `shutter` command: run the mesh, generate code, check and test the project, migrate."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bench.cli import app as bench_app
from mesh import codegen
from mesh.bus_cli import app as bus_app

ROOT = codegen.ROOT
app = typer.Typer(help="Shutter: a photo and video sharing backend as a mesh of gRPC services.")
app.add_typer(bench_app, name="bench")
app.add_typer(bus_app, name="bus")
console = Console(stderr=True)


DEFAULT_ENGINE_URLS = {
    "SHUTTER_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/shutter",
    "SHUTTER_REDIS_URL": "redis://127.0.0.1:6379/0",
}
# Each supervised process serves its Prometheus metrics on its own port, counting up from here.
FIRST_METRICS_PORT = 9101


@app.command()
def up(
    edge_port: Annotated[
        int | None, typer.Option(help="HTTP port of the edge (default 8080, SHUTTER_EDGE_PORT).")
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
    if edge_port is not None:
        os.environ["SHUTTER_EDGE_PORT"] = str(edge_port)
    if engines:
        for key, url in DEFAULT_ENGINE_URLS.items():
            os.environ.setdefault(key, url)
    from mesh.config import MeshSettings

    settings = MeshSettings()
    if engines or settings.database_url or settings.redis_url:
        asyncio.run(_up_processes())
    else:
        asyncio.run(_up_embedded())


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
    from mesh import server, telemetry
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
    from mesh import db, server, telemetry
    from mesh.services import MESH
    from mesh.supervisor import Supervisor, module_child

    settings = EdgeSettings()
    telemetry.configure(settings, process_name="shutter-supervisor")
    if settings.database_url:
        await asyncio.to_thread(db.ensure_database, settings.database_url)
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
    _print_mesh(edge_url, addresses, f"{settings.database_url} and {settings.redis_url}")
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


@app.command()
def settings() -> None:
    """List every setting of the mesh and its services: variable, default and meaning."""
    from pydantic import AliasChoices

    from edge_proxy.settings import EdgeSettings
    from mesh.config import MeshSettings
    from mesh.services import MESH

    table = Table(title="Settings (environment variables; unset means the default)")
    for column in ("variable", "default", "used by", "meaning"):
        table.add_column(column)
    classes: list[tuple[str, type[MeshSettings]]] = [("every process", MeshSettings)]
    classes += [(spec.name, spec.settings_type()) for spec in MESH]
    classes.append(("edge_proxy", EdgeSettings))
    seen: set[str] = set()
    for owner, cls in classes:
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            variable = (
                str(alias.choices[0])
                if isinstance(alias, AliasChoices)
                else f"SHUTTER_{name.upper()}"
            )
            if variable in seen:
                continue
            seen.add(variable)
            default = "" if info.default is None else str(info.default)
            table.add_row(variable, default, owner, info.description or "")
    Console().print(table)


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
