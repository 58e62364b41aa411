"""`shutter bench`: drive load against the mesh and report figures next to a same-run baseline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bench import capacity as capacity_inputs
from bench import loadgen

# The capacity command's defaults are the model's own inputs (bench/capacity.py).
_CAPACITY = capacity_inputs.Inputs()

app = typer.Typer(help="Benchmarks: load generators and scenarios (not part of the tests).")
console = Console(stderr=True)


def _table(results: list[loadgen.LoadResult]) -> Table:
    table = Table(title="load (latency in ms, from each request's scheduled time)")
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


def _cost_table(costs: list[dict[str, Any]]) -> Table:
    table = Table(title="CPU the mesh spent per request (ms), by process")
    names = sorted({n for c in costs for n in c["cpu_ms_per_request"]})
    table.add_column("method")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right")
    for row in costs:
        each = row["cpu_ms_per_request"]
        table.add_row(
            str(row["method"]).rsplit("/", 1)[-1],
            *(f"{each[n]:.2f}" if n in each else "—" for n in names),
            f"{row['total_cpu_ms_per_request']}",
        )
    return table


def _run_with_progress(
    spec: loadgen.LoadSpec, driver: loadgen.Driver | None = None
) -> loadgen.LoadResult:
    line = Text()
    with Live(line, console=console, transient=True, refresh_per_second=4) as live:

        def progress(elapsed: float, answered: int, failed: int) -> None:
            live.update(
                Text(f"{spec.method}: {elapsed:5.1f}s  answered {answered}  failed {failed}")
            )

        return loadgen.run(spec, on_progress=progress, driver=driver)


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


def _default_edges() -> Path:
    """Return the real graph beside the repository: `shared/data` in the nearest folder above it
    that has one (a worktree sits a level deeper than the main checkout)."""
    relative = Path("shared") / "data" / "socfb-Reed98.edges"
    repo = Path(__file__).resolve().parents[1]
    for folder in repo.parents:
        if (folder / relative).is_file():
            return folder / relative
    return repo.parent / relative


DEFAULT_EDGES = _default_edges()


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
    big_authors: Annotated[
        str,
        typer.Option(
            help="Follower counts of authors seeded in bulk through the stores, e.g. "
            "1000,10000,100000 (each follower an account of its own)."
        ),
    ] = "",
    big_author_posts: Annotated[int, typer.Option(help="Posts by each big author.")] = 20,
    id_shard: Annotated[
        int, typer.Option(help="Shard field of the ids the bulk loader makes (0..8191).")
    ] = 8191,
    drain_notify: Annotated[
        bool,
        typer.Option(
            help="Wait for notify_svc as well as feed_svc to handle every event of the bulk "
            "writes (default: feed_svc only; notify_svc handles a follow at tens per second, "
            "so the real graph's 40 000 follow notifications take it many minutes, and it goes "
            "on doing so in the background)."
        ),
    ] = False,
    bulk_path: Annotated[
        bool,
        typer.Option(
            "--bulk/--rpc",
            help="Write accounts, follows, media, posts, likes and comments through the "
            "services' own store code with their events (bench/bulk.py; the mesh's SHUTTER_* "
            "settings must reach its databases), or send every one as an RPC (slow: argon2 per "
            "account, one Follow call per follow).",
        ),
    ] = True,
    activate: Annotated[
        bool,
        typer.Option(
            help="--bulk: build every account's feed and mark it active before the posts, so "
            "they are pushed to the feeds (--no-activate: feeds are built on first read)."
        ),
    ] = True,
) -> None:
    """Seed a running mesh: real graph, synthetic users, posts, likes; write a manifest."""
    import asyncio

    from bench import bulk
    from bench import seed as seeding

    numbers = (extra_users, extra_follows, celebrities, celebrity_followers, posts)
    if min(numbers) < 0 or min(likes_per_post, comments_per_post) < 0:
        raise typer.BadParameter("counts must be ≥ 0")
    if concurrency < 1 or upload_concurrency < 1:
        raise typer.BadParameter("concurrency and upload-concurrency must be ≥ 1")
    if big_author_posts < 0 or not 0 <= id_shard <= 8191:
        raise typer.BadParameter("big-author-posts ≥ 0; id-shard within 0..8191")
    try:
        sizes = bulk.parse_sizes(big_authors)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
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
        big_authors=sizes,
        big_author_posts=big_author_posts,
        id_shard=id_shard,
        drain_notify=drain_notify,
        bulk=bulk_path,
        activate=activate,
    )
    try:
        result = asyncio.run(seeding.seed(options, console))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(
        f"{len(result.accounts)} accounts, {len(result.posts)} posts; "
        f"rates per second: {result.rates}; manifest: {out}"
    )


@app.command("k6")
def k6_command(
    script: Annotated[str, typer.Argument(help="edge, grpc, mixed, or a path to a k6 .js script.")],
    manifest: Annotated[
        Path, typer.Option(help="The manifest `bench seed` wrote (seeded first if missing).")
    ] = Path("seed.json"),
    edge: Annotated[str, typer.Option(help="The edge's URL, when seeding first.")] = (
        "http://127.0.0.1:8080"
    ),
    rate: Annotated[float, typer.Option(help="Open loop: iterations per second.")] = 10.0,
    duration: Annotated[str, typer.Option(help="k6 duration of each scenario (10s, 2m).")] = "10s",
    vus: Annotated[int, typer.Option(help="k6 virtual users allocated up front.")] = 50,
    users: Annotated[int, typer.Option(help="Seeded users who read (and are looked at).")] = 200,
    logins: Annotated[int, typer.Option(help="edge: how many of them log in first.")] = 20,
    mode: Annotated[str, typer.Option(help="FEED_MODE_RANKED or _CHRONOLOGICAL.")] = (
        "FEED_MODE_RANKED"
    ),
    p99_ms: Annotated[float, typer.Option(help="The p99 every request kind must hold.")] = 100.0,
    seed_value: Annotated[int, typer.Option("--seed", help="Seeds the choice of users.")] = 1,
    warmup: Annotated[
        str, typer.Option(help="mixed: sent at the same rate first, not judged (as mixed-edge).")
    ] = "2s",
    output: Annotated[
        Path | None, typer.Option(help="mixed: write the figures as JSON here (else stdout).")
    ] = None,
) -> None:
    """Run a k6 script against the seeded mesh; k6 prints its summary and thresholds.

    mixed: mixed-edge's mix from k6, with mixed-edge's inputs (readers, posts, media uploaded
    first) and its figures: per operation, and CPU per request of the mesh and of k6 (JSON)."""
    import asyncio
    import tempfile

    from bench import k6run, scenarios
    from bench import seed as seeding

    run = k6run.K6Run(
        rate=rate,
        duration=duration,
        vus=vus,
        p99_ms=p99_ms,
        mode=mode,
        logins=logins,
        warmup=warmup if script == "mixed" else "0s",
    )
    try:
        path = k6run.script_path(script)
        run.check()
        k6run.k6_binary()
    except (ValueError, k6run.K6Missing) as exc:
        raise typer.BadParameter(str(exc)) from exc
    if not manifest.is_file():
        console.print(f"no manifest at {manifest}: seeding first (bulk, the real graph)")
        options = seeding.SeedOptions(edges=DEFAULT_EDGES, out=manifest, edge_url=edge, bulk=True)
        asyncio.run(seeding.seed(options, console))
    data = scenarios.load_manifest(manifest)
    if script == "mixed":
        import json

        from bench import mixed_edge

        mixed_options = mixed_edge.Options(users=users, seed=seed_value, mode=mode)
        with tempfile.TemporaryDirectory(prefix="shutter-k6-") as scratch:
            try:
                report = k6run.run_mixed(
                    data, manifest, run, mixed_options, Path(scratch), console=console
                )
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from exc
        console.print(k6run.mixed_table(report))
        console.print(
            f"CPU the mesh spent per request of the mix (ms): {report['cpu_cost']}; "
            f"k6 itself: {report['generator_cpu_ms_per_request']} ms per request"
        )
        text = json.dumps({"k6_mixed": report}, indent=2)
        if output is not None:
            output.write_text(text)
            console.print(f"figures written to {output}")
        else:
            print(text)  # noqa: T201 - the machine-readable report goes to stdout
        raise typer.Exit(report["k6_exit_code"])
    readers = scenarios.sample_users(data, users, seed_value)
    asyncio.run(scenarios.fresh_tokens(data, readers, manifest))
    with tempfile.TemporaryDirectory(prefix="shutter-k6-") as scratch:
        env = k6run.environment(data, run, Path(scratch), readers=readers)
        code, summary = k6run.run_k6(path, env, Path(scratch) / "summary.json")
    console.print(f"k6 {path.name}: {k6run.failures(summary)}")
    raise typer.Exit(code)


@app.command("edge-cost")
def edge_cost_command(
    requests: Annotated[int, typer.Option(help="Requests per measured run.")] = 2000,
    repeats: Annotated[int, typer.Option(help="Runs per route; the median is reported.")] = 5,
    output: Annotated[Path | None, typer.Option(help="Write the figures as JSON here.")] = None,
) -> None:
    """Measure the edge's own CPU per read request (no network, the service answering at once):
    the whole app, the protobuf → JSON and JSON → bytes parts, and both as the edge does them
    now (posts inside an answer from their kept JSON, jsonenc.render)."""
    import asyncio
    import json

    from bench import edge_cost

    if requests < 1 or repeats < 1:
        raise typer.BadParameter("requests and repeats ≥ 1")
    rows = asyncio.run(edge_cost.measure(requests=requests, repeats=repeats))
    table = Table(title="the edge's own CPU per request (µs, this process, no network)")
    columns = ("route", "path", "request", "proto → dict", "dict → bytes", "kept posts → bytes")
    for column in (*columns, "body bytes"):
        table.add_column(column, justify="left" if column in ("route", "path") else "right")
    for row in rows:
        table.add_row(
            row["route"],
            row["path"],
            f"{row['request_us']:.0f}",
            f"{row['to_dict_us']:.0f}",
            f"{row['encode_us']:.0f}",
            f"{row['rendered_us']:.0f}",
            str(row["body_bytes"]),
        )
    console.print(table)
    if output is not None:
        output.write_text(json.dumps(rows, indent=2))


@app.command()
def deletion(
    edge: Annotated[str, typer.Option(help="The edge's URL.")] = "http://127.0.0.1:8080",
    accounts: Annotated[int, typer.Option(min=1, help="Accounts made and deleted.")] = 10,
    comments: Annotated[int, typer.Option(min=0, help="Comments each account leaves.")] = 20,
    out: Annotated[Path | None, typer.Option(help="Write the figures as JSON here.")] = None,
) -> None:
    """Time account deletions until nothing of them is visible, against the same run's post
    deletions (see bench/deletion.py)."""
    import asyncio
    import json

    from bench import deletion as deletion_bench

    report = asyncio.run(deletion_bench.run(edge, accounts=accounts, comments=comments))
    table = Table(title="deletion: seconds from the DELETE's answer until every reader sees it")
    for column in ("what", "count", "p50", "p95", "max"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for name in ("post_deletion_baseline", "account_deletion"):
        row = report[name]
        table.add_row(
            name,
            str(row["count"]),
            f"{row['p50_s']:.2f}",
            f"{row['p95_s']:.2f}",
            f"{row['max_s']:.2f}",
        )
    console.print(table)
    if out is not None:
        out.write_text(json.dumps(report, indent=2))


@app.command()
def capacity(
    feed_read_cpu_ms: Annotated[
        float, typer.Option(help="CPU ms per home-feed read, all processes (cost accounting).")
    ] = _CAPACITY.feed_read_cpu_ms,
    profile_read_cpu_ms: Annotated[
        float, typer.Option(help="CPU ms per profile read (grid + profile).")
    ] = _CAPACITY.profile_read_cpu_ms,
    post_write_cpu_ms: Annotated[
        float, typer.Option(help="CPU ms per CreatePost.")
    ] = _CAPACITY.post_write_cpu_ms,
    like_cpu_ms: Annotated[
        float, typer.Option(help="CPU ms per like or comment.")
    ] = _CAPACITY.like_cpu_ms,
    redis_commands_per_feed_read: Annotated[
        float, typer.Option(help="Redis commands (round trips) per read.")
    ] = _CAPACITY.redis_commands_per_feed_read,
    redis_bytes_per_feed_entry: Annotated[
        float, typer.Option(help="Measured bytes per home-feed entry.")
    ] = _CAPACITY.redis_bytes_per_feed_entry,
    redis_bytes_per_cached_post: Annotated[
        float, typer.Option(help="Measured bytes per post in the read model.")
    ] = _CAPACITY.redis_bytes_per_cached_post,
    as_json: Annotated[bool, typer.Option("--json", help="Print the model as JSON.")] = False,
) -> None:
    """The capacity model (bench/README.md): per-request costs -> processes, Redis, PostgreSQL
    for 115k feed reads/s average, 350k peak and 100M posts a day."""
    import json

    from bench import capacity as cap

    figures = (feed_read_cpu_ms, profile_read_cpu_ms, post_write_cpu_ms, like_cpu_ms)
    if min(figures) <= 0 or redis_commands_per_feed_read <= 0:
        raise typer.BadParameter("costs must be > 0")
    if min(redis_bytes_per_feed_entry, redis_bytes_per_cached_post) <= 0:
        raise typer.BadParameter("bytes must be > 0")
    found = cap.model(
        cap.Inputs(
            feed_read_cpu_ms=feed_read_cpu_ms,
            profile_read_cpu_ms=profile_read_cpu_ms,
            post_write_cpu_ms=post_write_cpu_ms,
            like_cpu_ms=like_cpu_ms,
            redis_commands_per_feed_read=redis_commands_per_feed_read,
            redis_bytes_per_feed_entry=redis_bytes_per_feed_entry,
            redis_bytes_per_cached_post=redis_bytes_per_cached_post,
        )
    )
    if as_json:
        print(json.dumps(found, indent=2))  # noqa: T201 - the machine-readable report
        return
    table = Table(title="capacity model (bench/README.md)")
    table.add_column("")
    for row in found["loads"]:
        table.add_column(row["load"], justify="right")
    rows = found["loads"]
    for kind in rows[0]["service_cores"]:
        table.add_row(f"cores: {kind}", *(str(r["service_cores"][kind]) for r in rows))
    for key in (
        "service_cores_total",
        "processes",
        "machines",
        "redis_cores",
        "redis_shards_for_cpu",
        "pg_statements_per_second",
        "pg_cores",
    ):
        table.add_row(key.replace("_", " "), *(str(r[key]) for r in rows))
    memory = found["redis_memory"]
    table.add_row("redis GB: feeds / cached posts", f"{memory['feeds_gb']}", "")
    table.add_row("", f"{memory['cached_posts_gb']}", "")
    table.add_row("redis shards for memory", str(memory["shards_for_memory"]), "")
    console.print(table)


SCENARIOS = (
    "baseline",
    "home-feed",
    "list-user-posts",
    "get-post",
    "get-user",
    "hashtag",
    "fanout",
    "mixed-edge",
    "media",
    "cold-feed",
    "dm",
)


@app.command()
def scenario(
    name: Annotated[
        str,
        typer.Argument(
            help="baseline, home-feed, list-user-posts, get-post, get-user, hashtag, fanout, "
            "mixed-edge, media, cold-feed or dm."
        ),
    ],
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
    users: Annotated[
        int,
        typer.Option(
            help="home-feed, mixed-edge: how many seeded users read; fanout: followers per "
            "group in the celebrity read comparison."
        ),
    ] = 200,
    pick: Annotated[str, typer.Option(help="home-feed: round-robin or random users.")] = "random",
    mode: Annotated[
        str, typer.Option(help="home-feed, mixed-edge: FEED_MODE_RANKED or _CHRONOLOGICAL.")
    ] = "FEED_MODE_RANKED",
    seed_value: Annotated[int, typer.Option("--seed", help="Seeds every random choice.")] = 1,
    authors: Annotated[
        str,
        typer.Option(
            help="fanout: usernames, comma-separated (default: the big authors, else the "
            "celebrities)."
        ),
    ] = "",
    posts_per_author: Annotated[
        int, typer.Option(help="fanout: posts per author (the percentiles' samples).")
    ] = 10,
    sample: Annotated[
        int, typer.Option(help="fanout: followers per author who confirm with GetHomeFeed.")
    ] = 20,
    read_rounds: Annotated[
        int, typer.Option(help="fanout: reads per group in the one-at-a-time comparison.")
    ] = 300,
    find_rate: Annotated[
        bool, typer.Option(help="mixed-edge: step up from --rate (x1.25) until p99 or errors fail.")
    ] = False,
    max_rate: Annotated[float, typer.Option(help="mixed-edge: the search stops here.")] = 5000.0,
    step_duration: Annotated[
        float, typer.Option(help="mixed-edge: measured seconds of each search step.")
    ] = 5.0,
    p99_target_ms: Annotated[float, typer.Option(help="mixed-edge: the p99 a rate must hold.")] = (
        100.0
    ),
    metrics_port: Annotated[
        int | None, typer.Option(help="mixed-edge: first metrics port of `shutter up --engines`.")
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            help="mixed-edge: the mesh's Redis, for bytes per feed entry; cold-feed: the "
            "database it flushes (default: the manifest's)."
        ),
    ] = None,
    max_rounds: Annotated[
        int, typer.Option(help="cold-feed: read rounds after the flush, at most.")
    ] = 10,
    warm_factor: Annotated[
        float, typer.Option(help="cold-feed: a round is warm again at this times the warm p50.")
    ] = 1.5,
    flush_undelivered: Annotated[
        bool,
        typer.Option(
            help="cold-feed: flush even when the bus (in the same Redis database) still holds "
            "undelivered events, which are then lost (default: wait up to 60 s, else refuse)."
        ),
    ] = False,
    photos: Annotated[
        int, typer.Option(help="media: 12 MP photos to upload (--concurrency at a time).")
    ] = 10,
    dm_rates: Annotated[
        str, typer.Option(help="dm: send rates per second, comma-separated (low, high).")
    ] = "10,50",
    dm_pairs: Annotated[int, typer.Option(help="dm: 1:1 conversations the sends go round.")] = 20,
    output: Annotated[Path | None, typer.Option(help="Write the figures as JSON here.")] = None,
) -> None:
    """Run a named scenario against the seeded mesh; every report carries a same-run baseline."""
    import asyncio
    import copy
    import json

    from bench import scenarios

    if name not in SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {name!r}; one of {', '.join(SCENARIOS)}")
    if workers < 1 or duration <= 0 or warmup < 0 or rate < 0 or concurrency < 1:
        raise typer.BadParameter("workers and concurrency ≥ 1, duration > 0, warmup and rate ≥ 0")
    if read_rounds < 1:
        raise typer.BadParameter("read-rounds must be ≥ 1")
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
    from bench import cost

    addresses = cost.mesh_addresses(data)
    costs: list[dict[str, Any]] = []

    def costed(spec: loadgen.LoadSpec) -> loadgen.LoadResult:
        # The CPU the mesh's processes spent on this phase, per request answered.
        before = cost.cpu_seconds(addresses)
        result = _run_with_progress(spec)
        spent = cost.per_request(
            before,
            cost.cpu_seconds(addresses),
            seconds=spec.warmup + spec.duration,
            throughput=result.throughput,
        )
        costs.append({"method": spec.method, **spent})
        return result

    if name in scenarios.READ_PATHS:
        # The same-run Check baseline is the one of the service that answers this path.
        base = replace(base, target=data["grpc"][scenarios.READ_PATHS[name][0]])
    # mixed-edge runs its baselines itself, at the rate its search finds.
    results = [] if name == "mixed-edge" else [costed(base)]
    dm_failed = False
    report: dict[str, object] = {}
    if name == "mixed-edge":
        from bench import mixed_edge

        options = mixed_edge.Options(
            users=users,
            seed=seed_value,
            mode=mode,
            find_rate=find_rate,
            max_rate=max_rate,
            step_duration=step_duration,
            p99_target_ms=p99_target_ms,
            metrics_port=metrics_port,
            redis_url=redis_url,
        )
        try:
            results, report["mixed_edge"] = mixed_edge.scenario(
                data, manifest, base, options, run=_run_with_progress, console=console
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        except mixed_edge.NoRateHeld as exc:
            console.print(mixed_edge.steps_table(exc.steps, p99_target_ms))
            console.print(f"[red]no rate held:[/red] {exc}")
            if output is not None:
                failed = {"mixed_edge": {"search": {"steps": exc.steps, "held_rate": None}}}
                output.write_text(json.dumps(failed, indent=2))
            raise typer.Exit(1) from None
    elif name == "cold-feed":
        from bench import cold_feed, mixed_edge
        from bench.memory import process_memory

        chosen = scenarios.sample_users(data, users, seed_value)
        asyncio.run(scenarios.fresh_tokens(data, chosen, manifest))
        options_cold = cold_feed.ColdOptions(
            concurrency=concurrency,
            max_rounds=max_rounds,
            warm_factor=warm_factor,
            mode=mode,
            flush_undelivered=flush_undelivered,
        )
        try:
            options_cold.check()
            url = cold_feed.check_flushable(redis_url or data.get("redis_url"))
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        tokens = [data["users"][i]["access_token"] for i in chosen]
        try:
            cold = asyncio.run(
                cold_feed.cold_feed(data["grpc"]["feed_svc"], tokens, url, options_cold)
            )
        except RuntimeError as exc:
            console.print(f"[red]cold-feed:[/red] {exc}")
            raise typer.Exit(1) from None
        cold["rss_after"] = asyncio.run(
            process_memory(mixed_edge.mesh_processes(data, metrics_port))
        )
        console.print(cold_feed.report_table(cold))
        console.print(cold_feed.memory_table(cold))
        report["cold_feed"] = cold
        if any(r["errors"] for r in cold["rounds"]):
            console.print("[red]cold-feed: reads failed after the flush[/red]")
            raise typer.Exit(1)
    elif name == "home-feed":
        chosen = scenarios.sample_users(data, users, seed_value)
        asyncio.run(scenarios.fresh_tokens(data, chosen, manifest))
        results.append(costed(scenarios.home_feed_spec(data, chosen, base, mode)))
    elif name in scenarios.READ_PATHS:
        chosen = scenarios.sample_users(data, users, seed_value)
        asyncio.run(scenarios.fresh_tokens(data, chosen, manifest))
        try:
            spec = scenarios.read_path_spec(data, chosen, base, name, seed_value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        results.append(costed(spec))
    elif name == "dm":
        from bench import dm

        try:
            send_rates = [float(r) for r in dm_rates.split(",") if r.strip()]
        except ValueError as exc:
            raise typer.BadParameter("dm-rates: numbers, comma-separated") from exc
        if not send_rates or any(r <= 0 for r in send_rates) or dm_pairs < 1:
            raise typer.BadParameter("dm-rates must be positive; dm-pairs ≥ 1")
        pairs = dm.pick_pairs(data, dm_pairs, seed_value)
        if not pairs:
            raise typer.BadParameter("dm needs at least two seeded users")
        asyncio.run(scenarios.fresh_tokens(data, [i for p in pairs for i in p], manifest))
        console.print(f"dm: {len(pairs)} conversations, sends at {send_rates} per second")
        rows = asyncio.run(dm.delivery(data, pairs, rates=send_rates, duration=duration))
        table = Table(title="dm: SendMessage → on the recipient's stream (ms)")
        columns = [c for c, v in rows[0].items() if not isinstance(v, dict)]
        for column in columns:
            table.add_column(column, justify="right")
        for row in rows:
            table.add_row(*(str(row[c]) for c in columns))
        console.print(table)
        for row in rows:
            console.print(
                f"CPU ms per send at {row['rate_per_second']:g}/s by process: "
                f"{row['cpu_ms_per_send']}"
            )
        report["dm"] = rows
        results.append(costed(dm.inbox_spec(data, pairs, base)))
        if any(row["lost"] or row["errors"] for row in rows):
            # Reported with the rest (the figures of a failed run say why), then the run fails.
            console.print("[red]dm: messages lost or sends failed[/red]")
            dm_failed = True
    elif name == "media":
        if photos < 1:
            raise typer.BadParameter("photos must be ≥ 1")
        import tempfile

        from bench.media_bench import make_photo

        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "photo.jpg"
            make_photo(path)
            photo = path.read_bytes()
        user = scenarios.sample_users(data, 1, seed_value)[0]
        asyncio.run(scenarios.fresh_tokens(data, [user], manifest))
        in_flight = min(concurrency, photos)
        console.print(f"media: {photos} 12 MP JPEGs ({len(photo):,} bytes), {in_flight} at a time")
        uploads = asyncio.run(
            scenarios.media_uploads(data, photo, count=photos, in_flight=in_flight, user=user)
        )
        table = Table(title="media: upload through the edge → ready (ms)")
        for column in uploads:
            table.add_column(column, justify="right")
        table.add_row(*(str(v) for v in uploads.values()))
        console.print(table)
        report["media"] = uploads
    elif name == "fanout":
        wanted = [a.strip() for a in authors.split(",") if a.strip()]
        try:
            posting = asyncio.run(
                scenarios.fanout_authors(
                    data, wanted, sample=sample, seed=seed_value, manifest_path=manifest
                )
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        if not posting:
            raise typer.BadParameter("no authors: seed --big-authors or celebrities, or --authors")
        console.print(f"fan-out: {posts_per_author} posts each by {len(posting)} authors")
        rows = asyncio.run(
            scenarios.fanout(
                data, authors=posting, posts_per_author=posts_per_author, seed=seed_value
            )
        )
        table = Table(title="fan-out: CreatePost answered → post in every follower's feed (ms)")
        for column in rows[0]:
            table.add_column(column, justify="right")
        for row in rows:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)
        report["fanout"] = rows
        # What pulling costs a read: followers of the biggest pulled author against followers
        # of the biggest pushed one, same load, same run (after the baseline above).
        groups = asyncio.run(scenarios.read_groups(data, users, seed_value))
        if groups is None:
            console.print("celebrity read overhead: needs a pulled and a pushed big author")
        else:
            celebrity_fans, plain_fans, celebrity, plain = groups
            feed_addr = data["grpc"]["feed_svc"]
            serial: dict[str, dict[str, object]] = {}
            loaded: dict[str, dict[str, object]] = {}
            for read_mode in ("FEED_MODE_CHRONOLOGICAL", "FEED_MODE_RANKED"):
                # One read at a time, the two groups taking turns: the comparison the target
                # is judged on (see scenarios.interleaved_reads).
                figures = asyncio.run(
                    scenarios.interleaved_reads(
                        feed_addr,
                        {plain: plain_fans, celebrity: celebrity_fans},
                        mode=read_mode,
                        rounds=read_rounds,
                        seed=seed_value,
                    )
                )
                serial.update({f"{read_mode} {who}": f for who, f in figures.items()})
                # Then under load (--concurrency callers), in the order A B B A, so a drift of
                # the machine's load over the four runs weighs on both about alike.
                order = ((plain, plain_fans), (celebrity, celebrity_fans))
                merged: dict[str, loadgen.LoadResult] = {}
                for label, fans in (*order, *reversed(order)):
                    spec = scenarios.reads_spec(feed_addr, fans, base, read_mode)
                    results.append(_run_with_progress(spec))
                    if label in merged:
                        merged[label].histogram.merge(results[-1].histogram)
                        merged[label].codes.update(results[-1].codes)
                        merged[label].elapsed += results[-1].elapsed
                    else:
                        merged[label] = copy.deepcopy(results[-1])
                loaded.update({f"{read_mode} {w}": r.summary() for w, r in merged.items()})
            overhead = {
                "one_at_a_time": scenarios.read_overhead(serial, celebrity, plain),
                "under_load": scenarios.read_overhead(loaded, celebrity, plain),
            }
            report["celebrity_reads"] = overhead
            for title, rows in overhead.items():
                console.print(scenarios.read_overhead_table(rows, title=title))
    console.print(_table(results))
    if costs:
        console.print(_cost_table(costs))
        report["cpu_cost"] = costs
    report["load"] = json.loads(loadgen.report(results))
    text = json.dumps(report, indent=2)
    if output is not None:
        output.write_text(text)
        console.print(f"figures written to {output}")
    else:
        print(text)  # noqa: T201 - the machine-readable report goes to stdout
    if dm_failed or any(r.errors for r in results):
        raise typer.Exit(1)
