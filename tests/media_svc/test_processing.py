"""Processing a corpus of normal and hostile files: formats, bombs, metadata, orientation, sizes,
filters and video, through the job code that media_svc runs in its worker processes."""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest
from PIL import Image

from media_svc import filters, imaging, job
from tests.media_svc import corpus

FFMPEG = str(imageio_ffmpeg.get_ffmpeg_exe())


@pytest.fixture(autouse=True)
def _restore_pillow_limit() -> Iterator[None]:
    """The job sets Pillow's global pixel limit; keep it from leaking into other tests."""
    before = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = before


def job_spec(source: Path, out_dir: Path, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "source": str(source),
        "out_dir": str(out_dir),
        "kind": "photo",
        "filter": "normal",
        "keep_original": True,
        "transcode": True,
        "memory_mb": 2048,
        "ffmpeg": FFMPEG,
        "quality": {"jpeg": 80, "original_jpeg": 90, "webp": 80},
        "photo_limits": {"max_pixels": 40_000_000, "max_side": 16_383},
        "video_limits": {"max_seconds": 60.0, "max_side": 4096},
    }
    spec.update(overrides)
    return spec


def process(tmp_path: Path, data: bytes, **overrides: Any) -> dict[str, Any]:
    """Run a job on the bytes; return its result, or {"code": ...} when it refused them."""
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    source = work / "upload.bin"
    source.write_bytes(data)
    out_dir = work / "out"
    out_dir.mkdir()
    try:
        result = job.run(job_spec(source, out_dir, **overrides))
    except imaging.MediaRejected as rejected:
        assert not any(out_dir.iterdir()) or overrides.get("kind") == "video"
        return {"code": rejected.code, "message": rejected.message}
    result["files"] = {r["name"]: (out_dir / r["file"]).read_bytes() for r in result["renditions"]}
    result["sizes"] = {r["name"]: (r["width"], r["height"]) for r in result["renditions"]}
    return result


def rgb_at(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    """Return the RGB value of one pixel."""
    value = image.convert("RGB").getpixel(xy)
    assert isinstance(value, tuple)
    return (int(value[0]), int(value[1]), int(value[2]))


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_photo_with_gps_exif_xmp_and_comment_comes_out_clean_at_the_right_sizes(
    tmp_path: Path,
) -> None:
    result = process(
        tmp_path, corpus.jpeg((4000, 3000), gps=True, comment=True, xmp=True, icc=True)
    )
    assert result["type"] == "photo" and (result["width"], result["height"]) == (1080, 810)
    assert result["sizes"] == {
        "original": (4000, 3000),
        "thumbnail": (150, 150),
        "thumbnail_webp": (150, 150),
        "feed": (640, 480),
        "feed_webp": (640, 480),
        "full": (1080, 810),
        "full_webp": (1080, 810),
        # Every photo can be a story too: 4:3 is within 9:16..1.91:1, so it keeps its shape.
        "story": (720, 540),
        "story_webp": (720, 540),
        "story_full": (1080, 810),
        "story_full_webp": (1080, 810),
    }
    # Pixels are converted through the upload's profile and carry the standard sRGB profile,
    # never the upload's own bytes (issue 15).
    icc = imaging.srgb_profile()
    for name, data in result["files"].items():
        corpus.assert_clean(data, name=name)
        image = picture(data)
        assert image.size == result["sizes"][name]
        assert image.info.get("icc_profile") == icc, f"{name} lost its colour profile"
        if name.endswith("webp"):
            assert image.format == "WEBP"
        else:
            # Served variants are progressive; the archived original is a plain baseline JPEG.
            assert image.format == "JPEG"
            assert bool(image.info.get("progressive")) == (name != "original")


def test_exif_orientation_6_is_applied_before_the_tag_is_dropped(tmp_path: Path) -> None:
    # Stored landscape 800x600 with the red block top-left; orientation 6 means "rotate 90
    # degrees clockwise to view", which puts the block top-right of a 600x800 portrait.
    result = process(tmp_path, corpus.jpeg((800, 600), orientation=6))
    assert result["sizes"]["original"] == (600, 800)
    # 600x800 is taller than 4:5, so the centre is kept: 600x750.
    assert result["sizes"]["full"] == (600, 750) and result["sizes"]["feed"] == (600, 750)
    for name in ("original", "full"):
        image = picture(result["files"][name])
        corpus.assert_clean(result["files"][name], name=name)
        red, green, blue = rgb_at(image, (image.width - 20, 60))  # top right
        assert red > 200 and green < 60 and blue < 60, f"{name}: not rotated clockwise"
        assert rgb_at(image, (20, 60))[2] > 150  # top left is the blue background


def test_a_truncated_jpeg_is_refused_as_corrupt(tmp_path: Path) -> None:
    assert process(tmp_path, corpus.truncated_jpeg())["code"] == "MEDIA_CORRUPT"


def test_a_png_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = corpus.png_bomb(16_000, 16_000)  # 256 megapixels in a few kilobytes
    assert len(bomb) < 100_000
    started = time.perf_counter()
    outcome = process(tmp_path, bomb)
    assert outcome["code"] == "IMAGE_TOO_LARGE"
    assert time.perf_counter() - started < 2  # refused from the header, not after decoding


def test_a_bomb_just_over_the_limit_is_refused_too(tmp_path: Path) -> None:
    # 7000x7000 = 49 MP: over our 40 MP but under twice it, where Pillow only warns.
    assert process(tmp_path, corpus.png_bomb(7000, 7000))["code"] == "IMAGE_TOO_LARGE"


def test_the_pixel_limit_is_exact(tmp_path: Path) -> None:
    limits = {"max_pixels": 100 * 100, "max_side": 16_383}
    at_limit = process(tmp_path, corpus.png((100, 100)), photo_limits=limits)
    assert at_limit["sizes"]["full"] == (100, 100)
    over = process(tmp_path, corpus.png((101, 100)), photo_limits=limits)
    assert over["code"] == "IMAGE_TOO_LARGE"


def test_absurd_dimensions_are_refused(tmp_path: Path) -> None:
    outcome = process(tmp_path, corpus.tall_strip(1, 20_000))
    assert outcome["code"] == "IMAGE_DIMENSIONS_INVALID"
    side_limit = {"max_pixels": 40_000_000, "max_side": 500}
    assert process(tmp_path, corpus.png((500, 20)), photo_limits=side_limit)["type"] == "photo"
    over = process(tmp_path, corpus.png((501, 20)), photo_limits=side_limit)
    assert over["code"] == "IMAGE_DIMENSIONS_INVALID"


@pytest.mark.parametrize(
    "make", [corpus.pdf, corpus.svg, corpus.eps, lambda: b"", lambda: b"GIF89a" + b"\0" * 64]
)
def test_non_media_is_refused_whatever_it_is_called(tmp_path: Path, make: Any) -> None:
    assert process(tmp_path, make())["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_video_declared_as_a_photo_is_refused(tmp_path: Path) -> None:
    clip = corpus.video(FFMPEG, tmp_path / "clip.mp4")
    assert process(tmp_path, clip)["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_polyglot_keeps_only_its_picture(tmp_path: Path) -> None:
    result = process(tmp_path, corpus.polyglot())
    assert result["sizes"]["full"] == (320, 240)
    for name, data in result["files"].items():
        corpus.assert_clean(data, name=name)


def test_a_1x1_photo_is_never_upscaled(tmp_path: Path) -> None:
    result = process(tmp_path, corpus.tiny())
    assert set(result["sizes"].values()) == {(1, 1)}
    assert rgb_at(picture(result["files"]["thumbnail"]), (0, 0))[1] > 200


def test_a_small_photo_keeps_its_width_and_a_square_thumbnail_its_short_side(
    tmp_path: Path,
) -> None:
    result = process(tmp_path, corpus.jpeg((500, 400)))
    assert result["sizes"]["full"] == (500, 400) and result["sizes"]["feed"] == (500, 400)
    assert result["sizes"]["thumbnail"] == (150, 150)
    smaller = process(tmp_path, corpus.jpeg((120, 100)))
    assert smaller["sizes"]["thumbnail"] == (100, 100) and smaller["sizes"]["full"] == (120, 100)


def test_a_10_to_1_panorama_is_cropped_to_1_91_to_1(tmp_path: Path) -> None:
    result = process(tmp_path, corpus.panorama())  # 3000x300
    assert result["sizes"]["full"] == (573, 300)  # 300 * 1.91, no upscaling
    assert result["sizes"]["feed"] == (573, 300) or result["sizes"]["feed"][0] == 573
    assert result["sizes"]["original"] == (3000, 300)  # the kept original is not cropped
    wide = process(tmp_path, corpus.jpeg((8000, 1000)))
    assert wide["sizes"]["full"] == (1080, 565) and wide["sizes"]["feed"] == (640, 335)


def test_a_tall_photo_is_cropped_to_4_to_5(tmp_path: Path) -> None:
    result = process(tmp_path, corpus.jpeg((1080, 1920)))
    assert result["sizes"]["full"] == (1080, 1350) and result["sizes"]["feed"] == (640, 800)


@pytest.mark.parametrize(
    ("make", "expected_size"),
    [
        (lambda: corpus.png((640, 480), mode="RGBA"), (640, 480)),
        (lambda: corpus.png((640, 480), mode="P"), (640, 480)),
        (lambda: corpus.png((640, 480), mode="L"), (640, 480)),
        (corpus.png16, (300, 200)),
        (corpus.webp, (640, 480)),
        (corpus.heic, (640, 480)),
        (corpus.cmyk_jpeg, (400, 300)),
    ],
    ids=["png-alpha", "png-palette", "png-grey", "png-16bit", "webp", "heic", "cmyk-jpeg"],
)
def test_accepted_formats_and_modes_become_clean_rgb(
    tmp_path: Path, make: Any, expected_size: tuple[int, int]
) -> None:
    result = process(tmp_path, make())
    assert result["sizes"]["full"] == expected_size
    for name, data in result["files"].items():
        corpus.assert_clean(data, name=name)
        assert picture(data).mode == "RGB"


def test_transparency_is_flattened_onto_white(tmp_path: Path) -> None:
    result = process(tmp_path, corpus.png((640, 480), mode="RGBA"))
    full = picture(result["files"]["full"])
    assert min(rgb_at(full, (600, 240))) > 240  # the transparent right half


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    result = process(tmp_path, corpus.png16())
    value = rgb_at(picture(result["files"]["full"]), (10, 10))[0]
    assert 140 <= value <= 170  # 40000 / 65535 of white


@pytest.mark.parametrize("name", [n for n in filters.FILTERS if n != filters.NORMAL])
def test_every_filter_changes_the_picture_the_same_way_every_time(name: str) -> None:
    source = corpus.photo((120, 90))
    filtered = filters.apply(name, source)
    assert filtered.size == source.size and filtered.mode == "RGB"
    assert filtered.tobytes() != source.tobytes()
    assert filters.apply(name, source).tobytes() == filtered.tobytes()


def test_moon_is_black_and_white_and_filters_reach_every_variant(tmp_path: Path) -> None:
    result = process(tmp_path, corpus.jpeg((800, 600)), filter="moon")
    for name in ("thumbnail", "feed", "full", "full_webp"):
        image = picture(result["files"][name])
        pixels = [rgb_at(image, (x, y)) for x in range(0, image.width, 37) for y in (5, 50)]
        assert all(max(p) - min(p) <= 3 for p in pixels), f"{name} is not black and white"
    original = picture(result["files"]["original"])
    assert rgb_at(original, (10, 10))[0] > 200  # the kept original is unfiltered (red block)


def test_jpeg_variants_are_decoded_at_a_reduced_scale(tmp_path: Path) -> None:
    source = tmp_path / "big.jpg"
    source.write_bytes(corpus.jpeg((4000, 3000)))
    limits = imaging.PhotoLimits()
    reduced = imaging.open_photo(source, limits=limits, draft_for_variants=True)
    assert reduced.image.size == (2000, 1500)  # 1/2 scale still covers 1080 wide
    whole = imaging.open_photo(source, limits=limits, draft_for_variants=False)
    assert whole.image.size == (4000, 3000) and whole.format == "JPEG"
    small = tmp_path / "small.jpg"
    small.write_bytes(corpus.jpeg((3000, 800)))  # 1.91:1 crop is 1528 wide: 1/2 would not do
    assert imaging.open_photo(small, limits=limits, draft_for_variants=True).image.size == (
        3000,
        800,
    )
    result = process(tmp_path, corpus.jpeg((4000, 3000)), keep_original=False)
    assert "original" not in result["sizes"] and result["sizes"]["full"] == (1080, 810)


def test_a_short_mp4_gets_a_poster_and_a_clean_rendition(tmp_path: Path) -> None:
    clip = corpus.video(FFMPEG, tmp_path / "clip.mp4", seconds=1.0)
    assert b"secret-title" in clip and b"+37.7749" in clip
    result = process(tmp_path, clip, kind="video", filter="juno")
    assert result["type"] == "video" and (result["width"], result["height"]) == (320, 240)
    assert 900 <= result["duration_ms"] <= 1100
    assert result["sizes"]["thumbnail"] == (150, 150) and result["sizes"]["full"] == (320, 240)
    assert result["sizes"]["video_source"] == (320, 240)
    assert "original" not in result["sizes"]  # the uploaded stream is never kept nor served
    assert "video_720p" not in result["sizes"]  # never upscaled
    # Too small for 480p: one HLS rung at the source's size, and so the ladder is complete.
    assert result["hls_status"] == "ready" and [r["label"] for r in result["hls_rungs"]] == [
        "source"
    ]
    for name, data in result["files"].items():
        assert b"secret-title" not in data and b"+37.7749" not in data, name
        assert b"x264 - core" not in data, f"{name}: the encoder's SEI user data survived"
        if name == "video_source":
            assert data[4:8] == b"ftyp"
        elif name.startswith("hls_") or name == "master":
            assert data[:7] == b"#EXTM3U" or data[0] == 0x47, name  # a playlist or MPEG-TS
        else:
            corpus.assert_clean(data, name=name)


def test_a_rotated_video_has_an_upright_poster_and_renditions(tmp_path: Path) -> None:
    clip = corpus.video(FFMPEG, tmp_path / "clip.mp4", size="640x480", rotation=90, audio=False)
    result = process(tmp_path, clip, kind="video")
    assert (result["width"], result["height"]) == (480, 640)
    assert result["sizes"]["video_480p"] == (480, 640)
    assert result["sizes"]["full"] == (480, 600)  # the portrait poster, clamped to 4:5


def test_a_video_over_the_time_limit_is_refused(tmp_path: Path) -> None:
    clip = corpus.video(FFMPEG, tmp_path / "long.mp4", seconds=3.0, size="32x32", rate=2)
    outcome = process(
        tmp_path, clip, kind="video", video_limits={"max_seconds": 2.0, "max_side": 4096}
    )
    assert outcome["code"] == "VIDEO_TOO_LONG"


def test_a_truncated_video_or_a_photo_declared_as_video_is_refused(tmp_path: Path) -> None:
    clip = corpus.video(FFMPEG, tmp_path / "clip.mp4")
    cut = process(tmp_path, clip[: len(clip) // 3], kind="video")
    assert cut["code"] in ("MEDIA_CORRUPT", "UNSUPPORTED_MEDIA_TYPE")
    photo = process(tmp_path, corpus.jpeg(), kind="video")
    assert photo["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_9_16_photo_keeps_its_shape_in_the_story_variants(tmp_path: Path) -> None:
    result = process(tmp_path, corpus.jpeg((1080, 1920)))
    assert result["sizes"]["story_full"] == (1080, 1920) and result["sizes"]["story"] == (720, 1280)
    assert result["sizes"]["story_full_webp"] == (1080, 1920)
    assert result["sizes"]["full"] == (1080, 1350)  # the feed keeps its 4:5 crop
    for name in ("story", "story_full", "story_webp", "story_full_webp"):
        assert picture(result["files"][name]).size == result["sizes"][name]
        corpus.assert_clean(result["files"][name], name=name)


def test_story_variants_crop_taller_than_9_16_and_never_upscale(tmp_path: Path) -> None:
    tall = process(tmp_path, corpus.jpeg((1000, 3000)))
    assert tall["sizes"]["story_full"] == (1000, 1778)  # 1000 * 16 / 9, not upscaled to 1080
    assert tall["sizes"]["story"] == (720, 1280)
    small = process(tmp_path, corpus.png((360, 640)))
    assert small["sizes"]["story_full"] == (360, 640) and small["sizes"]["story"] == (360, 640)


def test_within_4_5_to_1_91_the_story_is_the_feed_picture(tmp_path: Path) -> None:
    result = process(tmp_path, corpus.jpeg((2000, 1500)))
    assert result["sizes"]["story_full"] == result["sizes"]["full"] == (1080, 810)
    files = {r["name"]: r["file"] for r in result["renditions"]}
    assert files["story_full"] == files["full"] and files["story_full_webp"] == files["full_webp"]
    assert result["sizes"]["story"] == (720, 540)
    wide = process(tmp_path, corpus.panorama())  # 10:1 is cropped to 1.91:1 in both shapes
    assert wide["sizes"]["story_full"] == wide["sizes"]["full"] == (573, 300)


def _playlist_entries(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_the_first_rung_comes_first_and_the_ladder_completes_it(tmp_path: Path) -> None:
    """A 720x1280 clip: the first job makes the 720p MP4 and its HLS rung (the video can be
    published); the ladder job adds 480p and rewrites the master playlist with both."""
    clip = corpus.video(FFMPEG, tmp_path / "clip.mp4", seconds=2.5, size="720x1280")
    first = process(tmp_path, clip, kind="video")
    assert first["hls_status"] == "processing"
    assert [r["label"] for r in first["hls_rungs"]] == ["720p"]
    assert first["sizes"]["video_720p"] == (720, 1280) and "video_480p" not in first["sizes"]
    assert first["sizes"]["story_full"] == (720, 1280)  # the poster keeps 9:16 for reels
    master = first["files"]["master"].decode()
    assert _playlist_entries(master) == ["hls_720p.m3u8"] and "RESOLUTION=720x1280" in master
    segments = _playlist_entries(first["files"]["hls_720p"].decode())
    assert segments == ["hls_720p_000.ts", "hls_720p_001.ts"]  # 2.5 s in 2 s segments

    ladder = process(tmp_path, clip, kind="video", phase="ladder", rungs=first["hls_rungs"])
    assert ladder["hls_status"] == "ready"
    assert [r["label"] for r in ladder["hls_rungs"]] == ["720p", "480p"]
    assert ladder["sizes"]["video_480p"] == (480, 854) and "video_720p" not in ladder["sizes"]
    assert "thumbnail" not in ladder["sizes"]  # the poster is the first job's
    master = ladder["files"]["master"].decode()
    assert _playlist_entries(master) == ["hls_720p.m3u8", "hls_480p.m3u8"]
    assert 'CODECS="avc1.64001f,mp4a.40.2"' in master
    segment = ladder["files"]["hls_480p_000"]
    assert b"x264 - core" not in segment and b"secret-title" not in segment

    import av

    with av.open(io.BytesIO(segment), mode="r", format="mpegts") as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        frames = list(container.decode(video=0))
    assert len(frames) == 20 and (frames[0].width, frames[0].height) == (480, 854)


def test_the_ladder_never_upscales() -> None:
    from media_svc import video

    assert video.ladder_sizes(1080, 1920) == [
        ("1080p", 1080, 1920),
        ("720p", 720, 1280),
        ("480p", 480, 854),
    ]
    assert video.ladder_sizes(1920, 1080)[0] == ("1080p", 1920, 1080)
    assert video.ladder_sizes(600, 800) == [("480p", 480, 640)]
    assert video.ladder_sizes(320, 241) == [("source", 320, 240)]  # even, never larger
