"""Video pipeline benchmark: a 30 s 1080x1920 clip through media_svc's two processing jobs, as
the worker runs them (a fresh `python -m media_svc.job` process each, on every core).

    .venv/bin/python -m bench.video_bench [--seconds 30] [--size 1080x1920]

Reported: the wall time until the video is ready to publish (probe, poster with its photo variants,
the first MP4 rendition and its HLS rung, the master playlist: the first job), the time of the
ladder (the other HLS rungs and MP4 renditions, the first rendition's audio copied in: the
second job), their
sum against the 60 s target, and the CPU seconds of each job (with the ffmpeg it ran): on a
shared machine the wall time depends on the other load, the CPU time does not. The source is
made first, untimed: ffmpeg's test pattern with moving grain (harder to encode than most phone
footage) and a tone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import imageio_ffmpeg

from media_svc import worker

TARGET_SECONDS = 60.0


def make_clip(ffmpeg: str, dest: Path, *, seconds: float, size: str) -> None:
    """Write an H.264/AAC MP4 of `seconds` at 30 frames a second with grain and a tone."""
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-f", "lavfi"]
        + ["-i", f"testsrc2=size={size}:rate=30:duration={seconds},noise=alls=4:allf=t"]
        + ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p"]
        + ["-c:a", "aac", "-metadata", "location=+37.7749-122.4194/", str(dest)],
        check=True,
        capture_output=True,
    )


def job_spec(source: Path, out_dir: Path, ffmpeg: str, **extra: Any) -> dict[str, Any]:
    """Return a job as the worker sends it, with media_svc's default settings."""
    return {
        "source": str(source),
        "out_dir": str(out_dir),
        "kind": "video",
        "filter": "normal",
        "keep_original": True,
        "transcode": True,
        "memory_mb": 2048,
        "ffmpeg": ffmpeg,
        "quality": {"jpeg": 80, "original_jpeg": 90, "webp": 80},
        "photo_limits": {"max_pixels": 40_000_000, "max_side": 16_383},
        "video_limits": {"max_seconds": 90.0, "max_side": 4096},
        "phase": "main",
        "rungs": [],
        **extra,
    }


def children_cpu() -> float:
    """Return the CPU seconds (user + system) of every child process reaped so far: a job and
    the ffmpeg it ran."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def say(line: str) -> None:
    """Print one line of the report."""
    sys.stdout.write(line + "\n")


async def run(seconds: float, size: str) -> dict[str, Any]:
    """Make the clip, run both jobs, return the figures."""
    ffmpeg = str(imageio_ffmpeg.get_ffmpeg_exe())
    work = Path(tempfile.mkdtemp(prefix="video-bench-"))
    try:
        source = work / "clip.mp4"
        make_clip(ffmpeg, source, seconds=seconds, size=size)
        first_dir, ladder_dir = work / "first", work / "ladder"
        first_dir.mkdir()
        ladder_dir.mkdir()
        load = os.getloadavg()[0]
        cpu = children_cpu()
        started = time.perf_counter()
        first = await worker.run_job_process(job_spec(source, first_dir, ffmpeg), 600)
        ready = time.perf_counter() - started
        ready_cpu = children_cpu() - cpu
        if not first.ok or first.result is None:
            raise RuntimeError(f"the first job failed: {first.code} {first.message}")
        rungs = first.result["hls_rungs"]
        cpu = children_cpu()
        started = time.perf_counter()
        ladder = await worker.run_job_process(
            job_spec(
                source,
                ladder_dir,
                ffmpeg,
                phase="ladder",
                rungs=rungs,
                audio_from=str(first_dir / f"video_{rungs[0]['label']}.mp4"),
            ),
            600,
        )
        ladder_time = time.perf_counter() - started
        ladder_cpu = children_cpu() - cpu
        if not ladder.ok or ladder.result is None:
            raise RuntimeError(f"the ladder job failed: {ladder.code} {ladder.message}")
        return {
            "clip": {"seconds": seconds, "size": size, "bytes": source.stat().st_size},
            "ready_s": round(ready, 2),
            "ladder_s": round(ladder_time, 2),
            "total_s": round(ready + ladder_time, 2),
            # CPU seconds: what the work costs whatever else runs; on an idle machine with
            # `cores` cores the wall time is at least cpu / cores.
            "ready_cpu_s": round(ready_cpu, 2),
            "ladder_cpu_s": round(ladder_cpu, 2),
            "cores": os.cpu_count(),
            "load_before": round(load, 2),
            "first_rung": rungs[0]["label"],
            "rungs": [r["label"] for r in ladder.result["hls_rungs"]],
            "files": len(first.result["renditions"]) + len(ladder.result["renditions"]),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length (default 30)")
    parser.add_argument("--size", default="1080x1920", help="clip size (default 1080x1920)")
    options = parser.parse_args()
    figures = asyncio.run(run(options.seconds, options.size))
    say(f"clip: {options.seconds:g} s {options.size}, {figures['clip']['bytes']:,} bytes")
    first = figures["first_rung"]
    say(f"ready to publish (poster + {first} + its HLS rung): {figures['ready_s']} s")
    say(f"rest of the ladder ({', '.join(figures['rungs'])}): {figures['ladder_s']} s")
    verdict = "within" if figures["total_s"] <= TARGET_SECONDS else "OVER"
    say(f"total: {figures['total_s']} s ({verdict} the {TARGET_SECONDS:g} s target)")
    cores = figures["cores"] or 1
    say(
        f"CPU: {figures['ready_cpu_s']} s + {figures['ladder_cpu_s']} s; on {cores} idle cores at "
        f"least {figures['ready_cpu_s'] / cores:.1f} s + {figures['ladder_cpu_s'] / cores:.1f} s "
        f"(load average before: {figures['load_before']})"
    )
    say(json.dumps(figures))


if __name__ == "__main__":
    main()
