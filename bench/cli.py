"""`shutter bench`: drive load against the mesh and report figures next to a same-run baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bench import loadgen

app = typer.Typer(help="Benchmarks: load generators and scenarios (not part of the tests).")
console = Console(stderr=True)


def _table(results: list[loadgen.LoadResult]) -> Table:
    table = Table(title="gRPC load (latency in ms, from each request's scheduled time)")
    for column in (
        "method",
        "mode",
        "requests",
        "req/s",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
        "errors",
        "vs baseline",
    ):
        table.add_column(column, justify="left" if column in ("method", "mode") else "right")
    base = results[0].throughput or 1.0
    for result in results:
        s = result.summary()
        table.add_row(
            s["method"],
            s["mode"],
            str(s["requests"]),
            f"{s['throughput_rps']:.0f}",
            f"{s['p50_ms']:.2f}",
            f"{s['p90_ms']:.2f}",
            f"{s['p99_ms']:.2f}",
            f"{s['p99_9_ms']:.2f}",
            f"{s['max_ms']:.2f}",
            str(result.errors),
            f"{result.throughput / base:.2f}x",
        )
    return table


def _run_with_progress(spec: loadgen.LoadSpec) -> loadgen.LoadResult:
    line = Text()
    with Live(line, console=console, transient=True, refresh_per_second=4) as live:

        def progress(elapsed: float, answered: int, failed: int) -> None:
            live.update(
                Text(f"{spec.method}: {elapsed:5.1f}s  answered {answered}  failed {failed}")
            )

        return loadgen.run(spec, on_progress=progress)


@app.command()
def rpc(
    target: Annotated[str, typer.Option(help="host:port of the gRPC server.")],
    method: Annotated[str, typer.Option(help="package.Service/Method, found by reflection.")],
    data: Annotated[str, typer.Option(help="The request as proto3 JSON.")] = "{}",
    rate: Annotated[
        float, typer.Option(help="Open loop: requests per second (0: closed loop).")
    ] = 0.0,
    concurrency: Annotated[int, typer.Option(help="Closed loop: concurrent callers.")] = 8,
    duration: Annotated[float, typer.Option(help="Measured seconds.")] = 10.0,
    warmup: Annotated[float, typer.Option(help="Seconds sent but not measured, first.")] = 2.0,
    workers: Annotated[int, typer.Option(help="Generator processes.")] = 2,
    token: Annotated[str, typer.Option(help="An access token to send as Bearer.")] = "",
    baseline: Annotated[
        bool, typer.Option(help="Measure the empty RPC (health Check) first, same load.")
    ] = True,
    output: Annotated[Path | None, typer.Option(help="Write the figures as JSON here.")] = None,
) -> None:
    """Drive any unary RPC with a JSON request template; report percentiles and throughput."""
    if workers < 1 or duration <= 0 or warmup < 0 or rate < 0 or concurrency < 1:
        raise typer.BadParameter("workers and concurrency ≥ 1, duration > 0, warmup and rate ≥ 0")
    spec = loadgen.LoadSpec(
        target=target,
        method=method,
        request_json=data,
        rate=rate,
        concurrency=concurrency,
        duration=duration,
        warmup=warmup,
        workers=workers,
        token=token,
    )
    specs = [loadgen.baseline_of(spec), spec] if baseline else [spec]
    results = [_run_with_progress(s) for s in specs]
    console.print(_table(results))
    text = loadgen.report(results)
    if output is not None:
        output.write_text(text)
        console.print(f"figures written to {output}")
    else:
        print(text)  # noqa: T201 - the machine-readable report goes to stdout
    if any(r.errors for r in results):
        raise typer.Exit(1)
