"""Video processing: probe with PyAV, then poster frame and H.264 renditions and HLS rungs
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
from typing import Any

from media_svc import sniff
from media_svc.imaging import MediaRejected, Rendition

ALLOWED_VIDEO_CODECS = {"h264", "hevc", "mpeg4", "av1", "vp9"}
# Renditions by their short side ("720p" is 1280x720 landscape, 720x1280 portrait).
RENDITION_SHORT_SIDES = (720, 480)
# The HLS ladder, by short side; players pick a rung by bandwidth.
LADDER_SHORT_SIDES = (1080, 720, 480)
# HLS segments are cut at keyframes, forced every SEGMENT_SECONDS.
SEGMENT_SECONDS = 2
# Peak video bitrate per rung (CRF within a VBV cap), so a rung's bandwidth is predictable.
MAXRATE = {1080: "5000k", 720: "3000k", 480: "1500k"}
FFMPEG_TIMEOUT_SECONDS = 600
MASTER_PLAYLIST = "master.m3u8"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
AUDIO_CODEC = "mp4a.40.2"  # AAC-LC


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
    codec: str = "h264"


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
        codec=codec,
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


def ladder_sizes(width: int, height: int) -> list[tuple[str, int, int]]:
    """Return (label, width, height) of each HLS rung, large to small: 1080p, 720p and 480p
    where the source is at least that large (never upscaled), else one at the source's size."""
    short = min(width, height)
    sizes = []
    for target in LADDER_SHORT_SIDES:
        if short >= target:
            scale = target / short
            sizes.append((f"{target}p", _even(width * scale), _even(height * scale)))
    if not sizes:
        sizes.append(("source", _even(width), _even(height)))
    return sizes


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _x264_speed(short_side: int) -> list[str]:
    """Return the x264 preset of a rung. The 1080p rung (half the ladder's CPU) uses superfast
    with veryfast's macroblock-tree rate control and 10-frame lookahead: about 30 % less CPU than
    veryfast at the same size under its 5 Mbit/s cap (superfast alone, without mbtree, doubles
    the size at the same CRF). Smaller rungs keep veryfast: there the faster settings saved only
    10-20 % of their CPU for 15-22 % more bytes (bench/README.md)."""
    if short_side >= 1080:
        return ["-preset", "superfast", "-x264-params", "mbtree=1:rc-lookahead=10"]
    return ["-preset", "veryfast"]


def _codec_options(
    info: VideoInfo, *, width: int, height: int, audio_input: int | None = None
) -> list[str]:
    """Return the ffmpeg options of one H.264/AAC output of a given size; with `audio_input`,
    the audio is copied from that input (an AAC track this pipeline encoded) instead of being
    encoded again.

    Keyframes every SEGMENT_SECONDS (and no scene-cut ones) make every rung cut at the same
    instants, so a player switches rungs cleanly. `filter_units` drops every SEI NAL unit: the
    source's user data never reaches a rendition (it is re-encoded anyway), nor does x264's own
    banner of its version and settings.
    """
    short = min(width, height)
    cap = next((rate for side, rate in MAXRATE.items() if short >= side), MAXRATE[480])
    if not info.has_audio:
        audio = ["-an"]
    elif audio_input is not None:
        audio = ["-c:a", "copy"]
    else:
        audio = ["-c:a", "aac", "-b:a", "128k", "-ac", "2"]
    return (
        ["-c:v", "libx264", *_x264_speed(short), "-crf", "23"]
        + ["-maxrate", cap, "-bufsize", cap]
        + ["-pix_fmt", "yuv420p", "-profile:v", "high", "-level:v", _level(width, height)]
        + ["-sc_threshold", "0"]
        + ["-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_SECONDS})"]
        + [*_NO_USER_DATA, *audio, "-threads", "2"]
    )


@dataclass(frozen=True)
class Output:
    """One encoding to make: an MP4 file or an HLS rung, at a size."""

    label: str
    width: int
    height: int
    hls: bool = False


def encode(
    ffmpeg: str,
    source: Path,
    out_dir: Path,
    *,
    info: VideoInfo,
    outputs: list[Output],
    max_seconds: float,
    audio_from: Path | None = None,
) -> list[Rendition | Rung]:
    """Encode several sizes of the source in one ffmpeg run: the source is decoded once and
    split, which on two cores saves a whole decode of a 1080p clip per extra output.

    `audio_from` is an MP4 this pipeline made earlier from the same source (the first
    rendition): its AAC track, our own encoding, is copied into every output rather than encoded
    again per output (AAC costs about 1.5 CPU-seconds per 30 s)."""
    branches = "".join(f"[s{i}]" for i in range(len(outputs)))
    graph = [f"[0:v:0]split={len(outputs)}{branches}"] if len(outputs) > 1 else []
    # One decoding thread: it decodes 1080x1920 several times faster than x264 encodes it, so
    # it never holds the encoders up, and frame threads would cost it 10-15 % more CPU.
    args = ["-threads", "1", "-t", f"{max_seconds:.3f}", "-i", str(source)]
    audio_input = None
    if info.has_audio and audio_from is not None and audio_from.is_file():
        args += ["-t", f"{max_seconds:.3f}", "-i", str(audio_from)]
        audio_input = 1
    for i, out in enumerate(outputs):
        head = f"[s{i}]" if len(outputs) > 1 else "[0:v:0]"
        graph.append(f"{head}scale={out.width}:{out.height}:flags=bicubic,setsar=1[v{i}]")
    args += ["-filter_complex", ";".join(graph)]
    for i, out in enumerate(outputs):
        audio_map = f"{audio_input or 0}:a:0"
        args += ["-map", f"[v{i}]"] + (["-map", audio_map] if info.has_audio else [])
        args += ["-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn"]
        args += _codec_options(info, width=out.width, height=out.height, audio_input=audio_input)
        if out.hls:
            args += _hls_output(out_dir, out.label)[1]
        else:
            dest = out_dir / f"video_{out.label}.mp4"
            args += ["-movflags", "+faststart", "-fflags", "+bitexact", str(dest)]
    _run(ffmpeg, args, f"encode the {', '.join(o.label for o in outputs)} renditions")
    made: list[Rendition | Rung] = []
    for out in outputs:
        if out.hls:
            playlist = _hls_output(out_dir, out.label)[0]
            made.append(
                _rung(
                    playlist,
                    label=out.label,
                    width=out.width,
                    height=out.height,
                    has_audio=info.has_audio,
                )
            )
        else:
            dest = out_dir / f"video_{out.label}.mp4"
            made.append(
                Rendition(
                    name=f"video_{out.label}",
                    file=dest.name,
                    content_type="video/mp4",
                    width=out.width,
                    height=out.height,
                    size=dest.stat().st_size,
                )
            )
    return made


def _level(width: int, height: int) -> str:
    """Return the H.264 level a size needs at up to 30 frames a second (and _codecs names)."""
    return "4.0" if min(width, height) > 720 else "3.1"


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
    made = encode(
        ffmpeg,
        source,
        out_dir,
        info=info,
        outputs=[Output(label, width, height)],
        max_seconds=max_seconds,
    )[0]
    assert isinstance(made, Rendition)
    return made


@dataclass(frozen=True)
class Rung:
    """One rung of the HLS ladder: its media playlist and what the master playlist says of it."""

    label: str
    width: int
    height: int
    has_audio: bool
    playlist: Rendition
    segments: list[Rendition]
    peak_bps: int
    average_bps: int


def _hls_output(out_dir: Path, label: str) -> tuple[Path, list[str]]:
    playlist = out_dir / f"hls_{label}.m3u8"
    return playlist, [
        "-f",
        "hls",
        "-hls_time",
        str(SEGMENT_SECONDS),
        "-hls_playlist_type",
        "vod",
        "-hls_segment_type",
        "mpegts",
        "-hls_segment_filename",
        str(out_dir / f"hls_{label}_%03d.ts"),
        "-map_metadata",
        "-1",
        "-fflags",
        "+bitexact",
        str(playlist),
    ]


def segment_rendition(
    ffmpeg: str, mp4: Rendition, out_dir: Path, *, label: str, has_audio: bool
) -> Rung:
    """Cut an MP4 rendition this job encoded into an HLS rung without encoding it again: its
    keyframes already fall every SEGMENT_SECONDS and it holds nothing of the upload's bytes."""
    playlist, output = _hls_output(out_dir, label)
    _run(
        ffmpeg,
        ["-i", str(out_dir / mp4.file), "-map", "0", "-c", "copy", *output],
        f"segment the {label} rendition",
    )
    return _rung(playlist, label=label, width=mp4.width, height=mp4.height, has_audio=has_audio)


def _rung(playlist: Path, *, label: str, width: int, height: int, has_audio: bool) -> Rung:
    """Return a rung from the playlist ffmpeg wrote: its segments, sizes and bitrates."""
    durations: list[float] = []
    segments: list[Rendition] = []
    pending: float | None = None
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            pending = float(line.removeprefix("#EXTINF:").split(",")[0])
        elif line and not line.startswith("#") and pending is not None:
            file = playlist.parent / Path(line).name
            segments.append(_file_rendition(file, SEGMENT_TYPE, width, height))
            durations.append(pending)
            pending = None
    if not segments:
        raise MediaRejected("MEDIA_CORRUPT", f"the {label} rung has no segments")
    rates = [s.size * 8 / max(d, 0.1) for s, d in zip(segments, durations, strict=True)]
    average = sum(s.size for s in segments) * 8 / max(sum(durations), 0.1)
    return Rung(
        label=label,
        width=width,
        height=height,
        has_audio=has_audio,
        playlist=_file_rendition(playlist, PLAYLIST_TYPE, width, height),
        segments=segments,
        peak_bps=int(max(rates)),
        average_bps=int(average),
    )


def _file_rendition(file: Path, content_type: str, width: int, height: int) -> Rendition:
    return Rendition(
        name=file.stem,
        file=file.name,
        content_type=content_type,
        width=width,
        height=height,
        size=file.stat().st_size,
    )


def summary(rung: Rung) -> dict[str, Any]:
    """Return what the master playlist needs of a rung, as stored with the media."""
    return {
        "label": rung.label,
        "width": rung.width,
        "height": rung.height,
        "has_audio": rung.has_audio,
        "playlist": rung.playlist.file,
        "peak_bps": rung.peak_bps,
        "average_bps": rung.average_bps,
    }


def _codecs(rung: dict[str, Any]) -> str:
    """Return the RFC 6381 codecs of a rung: H.264 High at the level its size needs."""
    level = round(float(_level(int(rung["width"]), int(rung["height"]))) * 10)
    video = f"avc1.6400{level:02x}"
    return f"{video},{AUDIO_CODEC}" if rung["has_audio"] else video


def write_master(out_dir: Path, rungs: list[dict[str, Any]]) -> Rendition:
    """Write the master playlist of the rungs (summaries), largest first; relative URIs, so it
    works from any origin or CDN that serves the files side by side."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    ordered = sorted(rungs, key=lambda r: int(r["width"]) * int(r["height"]), reverse=True)
    for rung in ordered:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={rung['peak_bps']},"
            f"AVERAGE-BANDWIDTH={rung['average_bps']},"
            f'RESOLUTION={rung["width"]}x{rung["height"]},CODECS="{_codecs(rung)}"'
        )
        lines.append(str(rung["playlist"]))
    master = out_dir / MASTER_PLAYLIST
    master.write_text("\n".join(lines) + "\n")
    largest = ordered[0]
    return _file_rendition(master, PLAYLIST_TYPE, int(largest["width"]), int(largest["height"]))
