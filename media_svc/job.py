"""One processing job in its own process: `python -m media_svc.job` reads a job as JSON on stdin
and writes the outcome as one JSON object on stdout.

Decoders meet hostile bytes here, so the job runs apart from the gRPC process, under an
address-space limit: a crash, a runaway allocation or a hang (the parent kills the whole process
group at its deadline) costs one upload, never the service. The outcome is either
`{"ok": true, "type": ..., "renditions": [...]}` or `{"ok": false, "code": ..., "message": ...}`;
anything else (no output, a signal) is a crash.
"""

from __future__ import annotations

import json
import resource
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from media_svc import imaging, sniff, video


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Process one upload as the job describes; return the outcome."""
    source = Path(job["source"])
    out_dir = Path(job["out_dir"])
    declared: str = job["kind"]
    quality = imaging.Quality(**job["quality"])
    photo_limits = imaging.PhotoLimits(**job["photo_limits"])
    with open(source, "rb") as head_file:
        kind = sniff.kind_of(head_file.read(sniff.HEAD_BYTES))
    if kind is None:
        raise imaging.MediaRejected(
            "UNSUPPORTED_MEDIA_TYPE", "the file is not a JPEG, PNG, WebP, HEIC, MP4 or MOV"
        )
    if kind != declared:
        raise imaging.MediaRejected(
            "UNSUPPORTED_MEDIA_TYPE", f"the file is a {kind}, but a {declared} was declared"
        )
    if kind == "photo":
        photo = imaging.process_photo(
            source,
            out_dir,
            filter_name=job["filter"],
            limits=photo_limits,
            quality=quality,
            keep_original=bool(job["keep_original"]),
        )
        return {
            "ok": True,
            "type": "photo",
            "width": photo.width,
            "height": photo.height,
            "duration_ms": 0,
            "renditions": [asdict(r) for r in photo.renditions],
        }
    limits = video.VideoLimits(**job["video_limits"])
    ffmpeg: str = job["ffmpeg"]
    info = video.probe(source, limits=limits)
    poster_file = out_dir / "poster.png"
    video.extract_poster(ffmpeg, source, poster_file, info=info)
    poster = imaging.process_photo(
        poster_file,
        out_dir,
        filter_name=job["filter"],
        limits=photo_limits,
        quality=quality,
        keep_original=False,
    )
    poster_file.unlink()
    renditions = [*poster.renditions]
    sizes = video.rendition_sizes(info.width, info.height)
    # Every served video is a fresh encoding (no copy of the uploaded stream is ever made):
    # without "transcode", only the smallest rendition is made.
    for label, width, height in sizes if job["transcode"] else sizes[-1:]:
        renditions.append(
            video.transcode(
                ffmpeg,
                source,
                out_dir,
                info=info,
                label=label,
                width=width,
                height=height,
                max_seconds=limits.max_seconds,
            )
        )
    return {
        "ok": True,
        "type": "video",
        "width": info.width,
        "height": info.height,
        "duration_ms": info.duration_ms,
        "renditions": [asdict(r) for r in renditions],
    }


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space (inherited by the ffmpeg it runs)."""
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> int:
    """Read a job from stdin, run it, print the outcome."""
    job = json.loads(sys.stdin.read())
    limit_memory(int(job["memory_mb"]))
    try:
        outcome = run(job)
    except imaging.MediaRejected as rejected:
        outcome = {"ok": False, "code": rejected.code, "message": rejected.message}
    except MemoryError:
        outcome = {
            "ok": False,
            "code": "MEDIA_TOO_COMPLEX",
            "message": "decoding needs too much memory",
        }
    sys.stdout.write(json.dumps(outcome))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
