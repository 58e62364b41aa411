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


DEFAULT_EDGES = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "socfb-Reed98.edges"
)


@app.command()
def seed(
    edge: Annotated[str, typer.Option(help="The edge's URL (uploads go through it).")] = (
        "http://127.0.0.1:8080"
    ),
    edges: Annotated[
        Path, typer.Option(help="The real social graph: an edge list, each edge a mutual follow.")
    ] = DEFAULT_EDGES,
    real_graph: Annotated[
        bool, typer.Option(help="Seed the real graph (--no-real-graph: synthetic users only).")
    ] = True,
    out: Annotated[Path, typer.Option(help="Where to write the manifest the scenarios read.")] = (
        Path("seed.json")
    ),
    seed_value: Annotated[
        int, typer.Option("--seed", help="Everything random derives from it: runs repeat.")
    ] = 1,
    prefix: Annotated[str, typer.Option(help="Username prefix (default: seed<SEED>_).")] = "",
    extra_users: Annotated[
        int, typer.Option(help="Synthetic users beyond the real graph (power-law popularity).")
    ] = 100,
    extra_follows: Annotated[int, typer.Option(help="Accounts each synthetic user follows.")] = 20,
    celebrities: Annotated[int, typer.Option(help="Accounts with an exact follower count.")] = 1,
    celebrity_followers: Annotated[int, typer.Option(help="Followers of each celebrity.")] = 1000,
    posts: Annotated[
        int, typer.Option(help="Posts in all, each with its own uploaded photo.")
    ] = 200,
    likes_per_post: Annotated[int, typer.Option(help="Likes on each post, by followers.")] = 3,
    comments_per_post: Annotated[int, typer.Option(help="Comments on each post.")] = 1,
    concurrency: Annotated[int, typer.Option(help="RPCs in flight (registrations: ≤ 8).")] = 32,
    upload_concurrency: Annotated[int, typer.Option(help="Uploads in flight.")] = 4,
) -> None:
    """Seed a running mesh: real graph, synthetic users, posts, likes; write a manifest."""
    import asyncio

    from bench import seed as seeding

    numbers = (extra_users, extra_follows, celebrities, celebrity_followers, posts)
    if min(numbers) < 0 or min(likes_per_post, comments_per_post) < 0:
        raise typer.BadParameter("counts must be ≥ 0")
    if concurrency < 1 or upload_concurrency < 1:
        raise typer.BadParameter("concurrency and upload-concurrency must be ≥ 1")
    if real_graph and not edges.is_file():
        raise typer.BadParameter(f"no edge list at {edges}")
    options = seeding.SeedOptions(
        edges=edges,
        out=out,
        edge_url=edge.rstrip("/"),
        seed=seed_value,
        prefix=prefix,
        extra_users=extra_users,
        extra_follows=extra_follows,
        celebrities=celebrities,
        celebrity_followers=celebrity_followers,
        posts=posts,
        likes_per_post=likes_per_post,
        comments_per_post=comments_per_post,
        concurrency=concurrency,
        upload_concurrency=upload_concurrency,
        real_graph=real_graph,
    )
    try:
        result = asyncio.run(seeding.seed(options, console))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(
        f"{len(result.accounts)} accounts, {len(result.posts)} posts; "
        f"rates per second: {result.rates}; manifest: {out}"
    )


SCENARIOS = ("baseline", "home-feed", "fanout")


@app.command()
def scenario(
    name: Annotated[str, typer.Argument(help="baseline, home-feed or fanout.")],
    manifest: Annotated[Path, typer.Option(help="The manifest `bench seed` wrote.")] = Path(
        "seed.json"
    ),
    rate: Annotated[
        float, typer.Option(help="Open loop: requests per second (0: closed loop).")
    ] = 0.0,
    concurrency: Annotated[int, typer.Option(help="Closed loop: concurrent callers.")] = 8,
    duration: Annotated[float, typer.Option(help="Measured seconds.")] = 10.0,
    warmup: Annotated[float, typer.Option(help="Seconds sent but not measured, first.")] = 2.0,
    workers: Annotated[int, typer.Option(help="Generator processes.")] = 2,
    users: Annotated[int, typer.Option(help="home-feed: how many seeded users read.")] = 200,
    pick: Annotated[str, typer.Option(help="home-feed: round-robin or random users.")] = "random",
    mode: Annotated[str, typer.Option(help="home-feed: FEED_MODE_RANKED or _CHRONOLOGICAL.")] = (
        "FEED_MODE_RANKED"
    ),
    seed_value: Annotated[int, typer.Option("--seed", help="Seeds every random choice.")] = 1,
    authors: Annotated[
        str, typer.Option(help="fanout: usernames, comma-separated (default: the celebrities).")
    ] = "",
    posts_per_author: Annotated[int, typer.Option(help="fanout: posts per author.")] = 3,
    sample: Annotated[int, typer.Option(help="fanout: followers polled per author.")] = 20,
    output: Annotated[Path | None, typer.Option(help="Write the figures as JSON here.")] = None,
) -> None:
    """Run a named scenario against the seeded mesh; every report carries a same-run baseline."""
    import asyncio
    import json

    from bench import scenarios

    if name not in SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}")
    if workers < 1 or duration <= 0 or warmup < 0 or rate < 0 or concurrency < 1:
        raise typer.BadParameter("workers and concurrency ≥ 1, duration > 0, warmup and rate ≥ 0")
    if pick not in ("round-robin", "random") or users < 1 or sample < 1 or posts_per_author < 1:
        raise typer.BadParameter("pick: round-robin or random; users, sample, posts ≥ 1")
    data = scenarios.load_manifest(manifest)
    base = loadgen.LoadSpec(
        target=data["grpc"]["feed_svc"],
        method=loadgen.HEALTH_CHECK,
        rate=rate,
        concurrency=concurrency,
        duration=duration,
        warmup=warmup,
        workers=workers,
        pick=pick,
        seed=seed_value,
    )
    results = [_run_with_progress(base)]
    report: dict[str, object] = {}
    if name == "home-feed":
        chosen = scenarios.sample_users(data, users, seed_value)
        asyncio.run(scenarios.fresh_tokens(data, chosen, manifest))
        results.append(_run_with_progress(scenarios.home_feed_spec(data, chosen, base, mode)))
    elif name == "fanout":
        by_name = {u["username"]: u["index"] for u in data["users"]}
        wanted = [a.strip() for a in authors.split(",") if a.strip()]
        unknown = [a for a in wanted if a not in by_name]
        if unknown:
            raise typer.BadParameter(f"not in the manifest: {', '.join(unknown)}")
        chosen = [by_name[a] for a in wanted] or list(data["celebrities"])
        if not chosen:
            raise typer.BadParameter("no authors: seed celebrities or pass --authors")
        console.print(f"fan-out: {posts_per_author} posts each by {len(chosen)} authors")
        rows = asyncio.run(
            scenarios.fanout(
                data,
                authors=chosen,
                posts_per_author=posts_per_author,
                sample=sample,
                seed=seed_value,
                manifest_path=manifest,
            )
        )
        table = Table(title="fan-out: CreatePost answered → post on a follower's first page (ms)")
        for column in rows[0]:
            table.add_column(column, justify="right")
        for row in rows:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)
        report["fanout"] = rows
    console.print(_table(results))
    report["load"] = json.loads(loadgen.report(results))
    text = json.dumps(report, indent=2)
    if output is not None:
        output.write_text(text)
        console.print(f"figures written to {output}")
    else:
        print(text)  # noqa: T201 - the machine-readable report goes to stdout
    if any(r.errors for r in results):
        raise typer.Exit(1)
