"""Video processing: probe with PyAV, then poster frame, metadata-free copy and H.264 renditions
with the ffmpeg binary that imageio-ffmpeg bundles.

Runs inside a processing job (media_svc.job), never in the gRPC process. PyAV reads the container
with the MP4/QuickTime demuxer only, and the codecs are checked against an allow-list before any
file is written. ffmpeg applies the rotation the container asks for (so posters and renditions are
upright), and `-map_metadata -1` with only the first video and audio streams mapped drops GPS
and every other tag, chapter, subtitle and data track (cameras keep GPS tracks there too).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from media_svc import sniff
from media_svc.imaging import MediaRejected, Rendition

ALLOWED_VIDEO_CODECS = {"h264", "hevc", "mpeg4", "av1", "vp9"}
# Renditions by their short side ("720p" is 1280x720 landscape, 720x1280 portrait).
RENDITION_SHORT_SIDES = (720, 480)
FFMPEG_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class VideoLimits:
    """What a video may be."""

    max_seconds: float = 60.0
    max_side: int = 4096


@dataclass(frozen=True)
class VideoInfo:
    """What probing found: duration, upright frame size, the container and its audio."""

    duration_ms: int
    width: int
    height: int
    container: sniff.VideoFormat
    has_audio: bool


def probe(source: Path, *, limits: VideoLimits) -> VideoInfo:
    """Check a video's container, codecs, duration and size; raise MediaRejected when refused."""
    import av

    with open(source, "rb") as head_file:
        container_format = sniff.video_format(head_file.read(sniff.HEAD_BYTES))
    if container_format is None:
        raise MediaRejected("UNSUPPORTED_MEDIA_TYPE", "the file is not an MP4 or QuickTime video")
    try:
        with av.open(str(source), format="mov") as container:
            if not container.streams.video:
                raise MediaRejected("UNSUPPORTED_MEDIA_TYPE", "the file has no video stream")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if codec not in ALLOWED_VIDEO_CODECS:
                raise MediaRejected(
                    "UNSUPPORTED_MEDIA_TYPE", f"the video codec {codec!r} is not accepted"
                )
            duration = _duration_seconds(container, stream)
            if duration is None or duration <= 0:
                raise MediaRejected("MEDIA_CORRUPT", "the video does not say how long it is")
            if duration > limits.max_seconds + 0.05:  # container rounding
                raise MediaRejected(
                    "VIDEO_TOO_LONG",
                    f"the video lasts {duration:.1f} s; at most {limits.max_seconds:g} s allowed",
                )
            width, height = stream.codec_context.width, stream.codec_context.height
            if not (2 <= width <= limits.max_side and 2 <= height <= limits.max_side):
                raise MediaRejected(
                    "VIDEO_DIMENSIONS_INVALID",
                    f"the video is {width}x{height}; each side must be 2 to {limits.max_side}",
                )
            # Decoding one frame proves the stream is decodable and tells its rotation.
            frame = next(container.decode(stream), None)
            if frame is None:
                raise MediaRejected("MEDIA_CORRUPT", "the video has no decodable frame")
            if int(getattr(frame, "rotation", 0) or 0) % 180 != 0:
                width, height = height, width
            has_audio = bool(container.streams.audio)
    except MediaRejected:
        raise
    except Exception as exc:  # any demuxer or decoder failure means the file is broken
        raise MediaRejected("MEDIA_CORRUPT", f"the video cannot be read ({_short(exc)})") from None
    return VideoInfo(
        duration_ms=round(min(duration, limits.max_seconds) * 1000),
        width=width,
        height=height,
        container=container_format,
        has_audio=has_audio,
    )


def _duration_seconds(container: object, stream: object) -> float | None:
    total = getattr(container, "duration", None)  # microseconds
    if total:
        return float(total) / 1_000_000
    length, base = getattr(stream, "duration", None), getattr(stream, "time_base", None)
    if length and base:
        return float(length * base)
    return None


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:120]


def _run(ffmpeg: str, args: list[str], what: str) -> None:
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    done = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_SECONDS)
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise MediaRejected(
            "MEDIA_CORRUPT", f"could not {what} ({detail[-1][:160] if detail else 'ffmpeg failed'})"
        )


def extract_poster(ffmpeg: str, source: Path, dest: Path, *, info: VideoInfo) -> None:
    """Write an upright PNG of a frame near the start (a second in, or a third of a short clip)."""
    at = min(1.0, info.duration_ms / 3000)
    _run(
        ffmpeg,
        ["-ss", f"{at:.3f}", "-i", str(source), "-map", "0:v:0", "-frames:v", "1"]
        + ["-map_metadata", "-1", "-c:v", "png", "-f", "image2", str(dest)],
        "extract a poster frame",
    )
    if not dest.exists() or dest.stat().st_size == 0:
        raise MediaRejected("MEDIA_CORRUPT", "the video has no frame to make a poster of")


# Every served video is re-encoded from pixels (never a copy of the uploaded stream, whose SEI
# user data can carry anything: a GPS string, a payload). The encoder would still pass the
# upload's closed captions and user data on as SEI, and writes its own settings as SEI: no
# caption or user-data SEI is made, and the bitstream filter drops every SEI NAL unit (type 6),
# whatever wrote it; players need none of them.
_NO_USER_DATA = ["-a53cc", "0", "-udu_sei", "0", "-bsf:v", "filter_units=remove_types=6"]


def _streams(info: VideoInfo) -> list[str]:
    mapped = ["-map", "0:v:0"] + (["-map", "0:a:0"] if info.has_audio else [])
    return mapped + ["-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn"]


def rendition_sizes(width: int, height: int) -> list[tuple[str, int, int]]:
    """Return (label, width, height) of each rendition to make: 720p and 480p where the source is
    at least that large (never upscaled), else one at the source's own size. Sides are even, as
    H.264 with 4:2:0 chroma needs."""
    short = min(width, height)
    sizes = []
    for target in RENDITION_SHORT_SIDES:
        if short >= target:
            scale = target / short
            sizes.append((f"{target}p", _even(width * scale), _even(height * scale)))
    if not sizes:
        sizes.append(("source", _even(width), _even(height)))
    return sizes


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def transcode(
    ffmpeg: str,
    source: Path,
    out_dir: Path,
    *,
    info: VideoInfo,
    label: str,
    width: int,
    height: int,
    max_seconds: float,
) -> Rendition:
    """Encode one H.264/AAC MP4 rendition, upright, at most max_seconds long, ready to stream."""
    dest = out_dir / f"video_{label}.mp4"
    audio = ["-c:a", "aac", "-b:a", "128k", "-ac", "2"] if info.has_audio else ["-an"]
    _run(
        ffmpeg,
        ["-i", str(source), *_streams(info), "-t", f"{max_seconds:.3f}"]
        + ["-vf", f"scale={width}:{height}:flags=bicubic,setsar=1", "-c:v", "libx264"]
        + ["-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-profile:v", "high"]
        + _NO_USER_DATA
        + [*audio, "-movflags", "+faststart", "-fflags", "+bitexact", "-threads", "2", str(dest)],
        f"encode the {label} rendition",
    )
    return Rendition(
        name=f"video_{label}",
        file=dest.name,
        content_type="video/mp4",
        width=width,
        height=height,
        size=dest.stat().st_size,
    )
