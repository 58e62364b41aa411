"""Photo pipeline benchmark: a 12 MP JPEG through media_svc's processing on one core, next to
vipsthumbnail making the same three sizes in the same run.

    .venv/bin/python -m bench.media_bench [--count 30] [--cpu 0]

Everything runs pinned to one CPU (children inherit the affinity). Reported per photo: the
median, p90 and p99 wall time, photos per second, and the peak resident memory of the process
that did the work (the job process, or vipsthumbnail). Modes:

- pipeline: media_svc.imaging in this process: decode, orient, strip, full-size original,
  thumbnail/feed/full as JPEG and WebP (7 files).
- variants: the same without the kept original, so the JPEG is decoded at 1/2 scale (6 files).
- job: the pipeline as the worker runs it, in a fresh `python -m media_svc.job` process per
  photo (start-up, imports and JSON included), with and without the original; peak RSS is
  that process's.
- vipsthumbnail: libvips' thumbnailer, one process per size (150x150 centre crop, 640 wide,
  1080 wide), JPEG only, quality 80, metadata stripped; peak RSS is the largest of the three.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from media_svc import imaging, worker

WIDTH, HEIGHT = 4000, 3000  # 12 MP


def make_photo(path: Path) -> None:
    """Write a 12 MP JPEG with camera-like content (gradients, edges, noise) and EXIF."""
    image = Image.linear_gradient("L").resize((WIDTH, HEIGHT)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for i in range(0, WIDTH, 97):
        draw.ellipse(
            (i, (i * 7) % HEIGHT, i + 400, (i * 7) % HEIGHT + 300), fill=(i % 255, 90, 160)
        )
    noise = Image.effect_noise((WIDTH, HEIGHT), 40).convert("RGB")
    image = Image.blend(image, noise, 0.25).filter(ImageFilter.SMOOTH)
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x8825] = {1: "N", 2: (37.0, 46.0, 30.0)}
    image.save(path, "JPEG", quality=92, exif=exif.tobytes())


def percentile(values: list[float], fraction: float) -> float:
    """Return a percentile by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def say(line: str) -> None:
    """Print one line of the report."""
    sys.stdout.write(line + "\n")


# A child's peak RSS includes what it shared with its parent before exec, so children are
# started by this small launcher (a bare interpreter), never by the benchmark process itself.
_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def run_child(
    args: list[str], stdin: bytes | None = None, env: dict[str, str] | None = None
) -> tuple[float, int]:
    """Run a process; return its wall time in seconds and its peak RSS in KiB."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _LAUNCHER, *args],
        env=env,
        input=stdin or b"",
        capture_output=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    code, peak = (int(v) for v in done.stdout.split())
    if code != 0:
        raise RuntimeError(f"{args[0]} failed: {done.stderr.decode()[-500:]}")
    return elapsed, peak


def measure(count: int, step: Callable[[int], int | None]) -> dict[str, float]:
    """Run a step count times (after one warm-up); return timing and memory figures."""
    step(-1)
    times, peaks = [], []
    for i in range(count):
        started = time.perf_counter()
        peak = step(i)
        times.append(time.perf_counter() - started)
        if peak is not None:
            peaks.append(peak)
    total = sum(times)
    return {
        "median_ms": statistics.median(times) * 1000,
        "p90_ms": percentile(times, 0.90) * 1000,
        "p99_ms": percentile(times, 0.99) * 1000,
        "photos_per_s": count / total,
        "peak_rss_mib": (max(peaks) / 1024) if peaks else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30, help="photos per mode (default 30)")
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin to (default 0)")
    options = parser.parse_args()
    os.sched_setaffinity(0, {options.cpu})
    work = Path(tempfile.mkdtemp(prefix="media-bench-"))
    job_env = worker._job_environment()
    try:
        source = work / "photo.jpg"
        make_photo(source)
        out = work / "out"
        quality = imaging.Quality()
        limits = imaging.PhotoLimits()

        def pipeline(keep_original: bool) -> Callable[[int], None]:
            def step(_: int) -> None:
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                imaging.process_photo(
                    source,
                    out,
                    filter_name="normal",
                    limits=limits,
                    quality=quality,
                    keep_original=keep_original,
                )

            return step

        def job(keep_original: bool) -> Callable[[int], int]:
            def step(_: int) -> int:
                return job_step(keep_original)

            return step

        def job_step(keep_original: bool) -> int:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            spec = {
                "source": str(source),
                "out_dir": str(out),
                "kind": "photo",
                "filter": "normal",
                "keep_original": keep_original,
                "transcode": False,
                "memory_mb": 2048,
                "ffmpeg": "",
                "quality": quality.__dict__,
                "photo_limits": limits.__dict__,
                "video_limits": {"max_seconds": 60.0, "max_side": 4096},
            }
            return run_child(list(worker.JOB_COMMAND), json.dumps(spec).encode(), job_env)[1]

        vips = shutil.which("vipsthumbnail")

        def vips_step(_: int) -> int:
            assert vips is not None
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            peaks = []
            for size, extra, name in (
                ("150x150", ["-m", "centre"], "thumbnail"),
                ("640x", [], "feed"),
                ("1080x", [], "full"),
            ):
                target = f"{out}/{name}.jpg[Q=80,strip,interlace]"
                args = [vips, str(source), "-s", size, *extra, "-o", target]
                args.append("--vips-concurrency=1")
                peaks.append(run_child(args)[1])
            return max(peaks)

        results = {
            "job process (as the worker runs it)": measure(options.count, job(True)),
            "job process, no original (draft decode)": measure(options.count, job(False)),
        }
        if vips:
            results["vipsthumbnail (3 sizes, JPEG)"] = measure(options.count, vips_step)
        results["pipeline (original + 3 sizes x JPEG/WebP)"] = measure(
            options.count, pipeline(True)
        )
        results["variants only (draft decode, 3 sizes x JPEG/WebP)"] = measure(
            options.count, pipeline(False)
        )
        in_process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        say(
            f"12 MP JPEG ({WIDTH}x{HEIGHT}, {source.stat().st_size // 1024} KiB), "
            f"{options.count} photos per mode, pinned to CPU {options.cpu}"
        )
        if not vips:
            say("vipsthumbnail: not installed (apt-get install libvips-tools)")
        say("| mode | median ms | p90 ms | p99 ms | photos/s | peak RSS MiB |")
        say("|---|---:|---:|---:|---:|---:|")
        for mode, figures in results.items():
            rss = figures["peak_rss_mib"]
            peak = "in process" if rss != rss else f"{rss:.0f}"  # NaN: measured in this process
            say(
                f"| {mode} | {figures['median_ms']:.0f} | {figures['p90_ms']:.0f} | "
                f"{figures['p99_ms']:.0f} | {figures['photos_per_s']:.2f} | "
                f"{peak} |"
            )
        say(f"(in-process modes: peak RSS of this whole process {in_process_peak:.0f} MiB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
