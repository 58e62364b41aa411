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
    if job.get("phase") == "ladder":
        return _ladder(job, source, out_dir, info=info, max_seconds=limits.max_seconds)
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
    hls_status, rungs = "", []
    if job["transcode"]:
        # The first rendition and its HLS rung come first: with the poster they make the video
        # playable (and publishable); the rest of the ladder is a second job (phase "ladder").
        label, width, height = video.rendition_sizes(info.width, info.height)[0]
        first = video.transcode(
            ffmpeg,
            source,
            out_dir,
            info=info,
            label=label,
            width=width,
            height=height,
            max_seconds=limits.max_seconds,
        )
        rung = video.segment_rendition(
            ffmpeg, first, out_dir, label=label, has_audio=info.has_audio
        )
        rungs = [video.summary(rung)]
        renditions += [first, rung.playlist, *rung.segments, video.write_master(out_dir, rungs)]
        hls_status = "processing" if _ladder_plan(info, done={label}) else "ready"
    else:
        # Every served video is a fresh encoding (no copy of the uploaded stream is ever made):
        # without "transcode", only the smallest rendition is made, and no HLS ladder.
        label, width, height = video.rendition_sizes(info.width, info.height)[-1]
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
        "hls_status": hls_status,
        "hls_rungs": rungs,
    }


def _ladder_plan(info: video.VideoInfo, *, done: set[str]) -> list[tuple[str, int, int, bool]]:
    """Return the rungs still to make: (label, width, height, whether an MP4 rendition of the
    same size is made too, to be cut into segments rather than encoded twice)."""
    # The MP4 sizes are among the ladder's (720p and 480p, or the source's own size).
    mp4 = {label for label, _, _ in video.rendition_sizes(info.width, info.height)}
    plan = [(lbl, w, h, lbl in mp4) for lbl, w, h in video.ladder_sizes(info.width, info.height)]
    return [p for p in plan if p[0] not in done]


def _ladder(
    job: dict[str, Any], source: Path, out_dir: Path, *, info: video.VideoInfo, max_seconds: float
) -> dict[str, Any]:
    """Make the rungs the first job left (and the MP4 renditions of the same sizes), then the
    master playlist of every rung: those in job["rungs"] and these."""
    ffmpeg: str = job["ffmpeg"]
    known = [dict(r) for r in job["rungs"]]
    plan = _ladder_plan(info, done={r["label"] for r in known})
    # One ffmpeg run decodes the source once for every size still to make: an MP4 where the
    # renditions have that size (cut into the rung afterwards), else the rung itself.
    outputs = [video.Output(label, w, h, hls=not with_mp4) for label, w, h, with_mp4 in plan]
    # The first job's MP4, when the worker still has it, gives its AAC track to every rung.
    audio_from = Path(job["audio_from"]) if job.get("audio_from") else None
    encoded = (
        video.encode(
            ffmpeg,
            source,
            out_dir,
            info=info,
            outputs=outputs,
            max_seconds=max_seconds,
            audio_from=audio_from,
        )
        if outputs
        else []
    )
    renditions: list[imaging.Rendition] = []
    made: list[video.Rung] = []
    for item in encoded:
        if isinstance(item, imaging.Rendition):
            renditions.append(item)
            label = item.name.removeprefix("video_")
            rung = video.segment_rendition(
                ffmpeg, item, out_dir, label=label, has_audio=info.has_audio
            )
        else:
            rung = item
        renditions += [rung.playlist, *rung.segments]
        made.append(rung)
    summaries = known + [video.summary(r) for r in made]
    renditions.append(video.write_master(out_dir, summaries))
    return {
        "ok": True,
        "type": "video",
        "width": info.width,
        "height": info.height,
        "duration_ms": info.duration_ms,
        "renditions": [asdict(r) for r in renditions],
        "hls_status": "ready",
        "hls_rungs": summaries,
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
