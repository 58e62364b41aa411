"""Photo processing: sniff, open with an allow-list, orient, strip metadata, make the variants.

Runs inside a processing job (media_svc.job), never in the gRPC process: decoders see hostile
bytes, so a crash or a runaway allocation takes down only that job.

Every rendition is re-encoded from pixels, so nothing of the upload's bytes survives but the
picture: no EXIF (GPS included), XMP, IPTC or comments, and no polyglot payload. Nothing of an
uploaded ICC profile survives either (a profile is free-form enough to carry text, and can be
megabytes): pixels with a profile are converted to sRGB through it, and renditions carry the
standard sRGB profile littleCMS builds; a profile that is too large or does not parse is ignored.

Decoding memory is bounded before any pixel is decoded: from the header's size and mode, what the
decoder and the conversions to 8-bit RGB will hold at once (bit depth x pixels) must fit the
job's budget, so a small file that expands to gigabytes (a 16-bit 6320x6320 PNG of 310 KB) is
refused, not decoded.
"""

from __future__ import annotations

import functools
import io
import math
import struct
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageCms, ImageFile

from media_svc import filters, sniff

THUMBNAIL_SIDE = 150
FEED_WIDTH = 640
FULL_WIDTH = 1080
STORY_WIDTH = 720
STORY_FULL_WIDTH = 1080
# Instagram's aspect range: 4:5 portrait to 1.91:1 landscape; beyond it we crop the centre.
MIN_ASPECT = 4 / 5
MAX_ASPECT = 1.91
# Stories and reels fill a phone's screen: 9:16 portrait is kept, anything taller is cropped.
STORY_MIN_ASPECT = 9 / 16
ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class MediaRejected(Exception):
    """The bytes are not media we accept; `code` is the stable failure code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# The largest ICC profile looked at: real colour profiles are a few KB (sRGB 3 KB, Display P3
# 0.5 KB, printer CMYK profiles up to ~1 MB); larger ones are ignored, never parsed.
ICC_MAX_BYTES = 1024 * 1024
# Bytes per pixel Pillow holds for a decoded image of each mode (RGB is stored in 4 bytes).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
# What the conversions to RGB hold on top of the decoded image, per pixel: 16-bit and float
# greys go through 32-bit I twice, then L, then RGB; everything else makes one RGB copy.
_CONVERSION_BYTES = {"I;16": 13, "I;16B": 13, "I;16L": 13, "I;16N": 13, "I": 9, "F": 13}
# Per pixel, after conversion: the upright copy (transpose) or the colour-managed one.
_WORKING_BYTES = 4


@dataclass(frozen=True)
class PhotoLimits:
    """What a photo may be."""

    max_pixels: int = 40_000_000
    max_side: int = 16_383
    # The most memory decoding and converting one photo to RGB may take (bit depth x pixels).
    max_decode_bytes: int = 512 * 1024 * 1024


def decode_bytes(mode: str, width: int, height: int) -> int:
    """Return an upper bound of the memory decoding an image of this mode and size to upright
    RGB takes at its peak: the decoded pixels, the conversions, one working copy."""
    decoded = _MODE_BYTES.get(mode, 4)
    return width * height * (decoded + _CONVERSION_BYTES.get(mode, 4) + _WORKING_BYTES)


@dataclass(frozen=True)
class Quality:
    """Encoder settings of the renditions."""

    jpeg: int = 80
    original_jpeg: int = 90
    webp: int = 80


@dataclass(frozen=True)
class Rendition:
    """One file a job wrote."""

    name: str
    file: str
    content_type: str
    width: int
    height: int
    size: int


@dataclass(frozen=True)
class PhotoResult:
    """The variants of a photo; width and height are those of the full variant."""

    width: int
    height: int
    renditions: list[Rendition]
    # The size of the story_full variant (9:16..1.91:1).
    story_width: int = 0
    story_height: int = 0


def clamp_box(
    width: int, height: int, *, min_aspect: float = MIN_ASPECT
) -> tuple[int, int, int, int]:
    """Return the centred crop box that brings an image's aspect within min_aspect..1.91:1
    (4:5 for feed posts, 9:16 for stories)."""
    aspect = width / height
    if aspect < min_aspect:
        keep = max(1, min(height, round(width / min_aspect)))
        top = (height - keep) // 2
        return (0, top, width, top + keep)
    if aspect > MAX_ASPECT:
        keep = max(1, min(width, round(height * MAX_ASPECT)))
        left = (width - keep) // 2
        return (left, 0, left + keep, height)
    return (0, 0, width, height)


def variant_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """Return the size of a variant target_width wide, never wider than the source."""
    new_width = min(target_width, width)
    return new_width, max(1, round(height * new_width / width))


def _oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _draft_request(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """Return the smallest decode size that still gives the full variant its width."""
    width, height = _oriented_size(size, orientation)
    left, top, right, bottom = clamp_box(width, height)
    scale = min(1.0, FULL_WIDTH / (right - left))
    return (math.ceil(size[0] * scale), math.ceil(size[1] * scale))


def _to_rgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """Return the image as RGB (transparency flattened onto white) and the profile still valid."""
    mode = image.mode
    if mode == "CMYK":
        if icc:
            try:
                source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                srgb = ImageCms.createProfile("sRGB")
                converted = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
                if converted is not None:
                    return converted, None
            except (ImageCms.PyCMSError, OSError, ValueError):
                pass
        return image.convert("RGB"), None
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and float greys: scale to 8 bits rather than clip.
        image = image.convert("I").point(lambda v: v / 256).convert("L")
        return image.convert("RGB"), None
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flattened = Image.alpha_composite(background, rgba).convert("RGB")
        return _to_srgb(flattened, icc) if mode in ("RGBA", "RGBa") else (flattened, None)
    if mode == "RGB":
        return _to_srgb(image, icc)
    # L, 1, YCbCr, LAB, HSV: their profiles (if any) do not describe RGB data.
    return image.convert("RGB"), None


@functools.cache
def srgb_profile() -> bytes:
    """Return the standard sRGB profile littleCMS builds (588 bytes), dated 2000-01-01 so that
    every rendition carries the same bytes (littleCMS stamps the time it was built)."""
    built = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    built[24:36] = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    return bytes(built)


def _to_srgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """Return RGB pixels converted to sRGB through their profile, with the standard sRGB profile
    to embed; pixels without a usable profile are taken as sRGB already (the web's default)."""
    if not icc or len(icc) > ICC_MAX_BYTES:
        return image, None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if source.profile.xcolor_space.strip() != "RGB":
            return image, None
        srgb = ImageCms.createProfile("sRGB")
        converted = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image, None  # not a well-formed RGB colour profile: ignored
    if converted is None:
        return image, None
    return converted, srgb_profile()


def _save(
    image: Image.Image,
    out_dir: Path,
    name: str,
    fmt: str,
    *,
    icc: bytes | None,
    quality: int,
    archival: bool = False,
) -> Rendition:
    """Write one rendition with no metadata but the ICC profile."""
    image.info = {}  # resize and crop copy info (comments, XMP): never let it reach a file
    extension, content_type = ("jpg", "image/jpeg") if fmt == "JPEG" else ("webp", "image/webp")
    path = out_dir / f"{name}.{extension}"
    options: dict[str, object] = {"quality": quality}
    if icc:
        options["icc_profile"] = icc
    if fmt == "JPEG" and not archival:
        options.update(progressive=True, optimize=True)  # smaller, and shows early on slow links
    else:
        options.update(method=4)
    image.save(path, fmt, **options)
    return Rendition(
        name=name if fmt == "JPEG" else f"{name}_webp",
        file=path.name,
        content_type=content_type,
        width=image.width,
        height=image.height,
        size=path.stat().st_size,
    )


@dataclass(frozen=True)
class Decoded:
    """A photo ready for encoding: RGB, upright, no metadata, and the ICC profile to carry over."""

    image: Image.Image
    icc: bytes | None
    format: sniff.PhotoFormat


def open_photo(source: Path, *, limits: PhotoLimits, draft_for_variants: bool) -> Decoded:
    """Decode a photo safely and return it as RGB, upright, without metadata, with its ICC profile.

    The format comes from the bytes; the decoder is chosen by an explicit allow-list; the size is
    checked from the header before any pixel is decoded. With draft_for_variants, a JPEG is
    decoded at the smallest 1/2, 1/4 or 1/8 scale that still covers the full variant.
    """
    with open(source, "rb") as head_file:
        head = head_file.read(sniff.HEAD_BYTES)
    fmt = sniff.photo_format(head)
    if fmt is None:
        raise MediaRejected("UNSUPPORTED_MEDIA_TYPE", "the file is not a JPEG, PNG, WebP or HEIC")
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    # A header that claims more than twice the limit fails in open() itself.
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source, formats=[fmt])
            try:
                rgb, icc = _decode(image, fmt, limits=limits, draft_for_variants=draft_for_variants)
            except BaseException:
                image.close()  # on success, load() has closed the file already
                raise
            return Decoded(rgb, icc, fmt)
    except MediaRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaRejected(
            "IMAGE_TOO_LARGE", f"the image has more than {limits.max_pixels} pixels"
        ) from None
    except MemoryError:
        raise MediaRejected("IMAGE_TOO_LARGE", "the image is too large to decode") from None
    except Exception as exc:  # any decoder failure means the file is broken
        raise MediaRejected(
            "MEDIA_CORRUPT", f"the image cannot be decoded ({_short(exc)})"
        ) from None


def _decode(
    image: Image.Image, fmt: str, *, limits: PhotoLimits, draft_for_variants: bool
) -> tuple[Image.Image, bytes | None]:
    if image.format != fmt:
        raise MediaRejected("UNSUPPORTED_MEDIA_TYPE", "the file is not the format it starts as")
    width, height = image.size
    if width < 1 or height < 1 or max(width, height) > limits.max_side:
        raise MediaRejected(
            "IMAGE_DIMENSIONS_INVALID",
            f"the image is {width}x{height}; each side must be 1 to {limits.max_side} pixels",
        )
    if width * height > limits.max_pixels:
        raise MediaRejected(
            "IMAGE_TOO_LARGE",
            f"the image has {width * height} pixels; at most {limits.max_pixels} are allowed",
        )
    orientation = image.getexif().get(ORIENTATION_TAG, 1)
    if orientation not in _TRANSPOSE:
        orientation = 1
    if fmt == "JPEG" and draft_for_variants:
        image.draft("RGB", _draft_request(image.size, orientation))
    needed = decode_bytes(image.mode, *image.size)
    if needed > limits.max_decode_bytes:
        raise MediaRejected(
            "IMAGE_TOO_LARGE",
            f"decoding the {image.size[0]}x{image.size[1]} {image.mode} image would take "
            f"{needed // 2**20} MiB; at most {limits.max_decode_bytes // 2**20} MiB are allowed",
        )
    image.seek(0)  # animated WebP/PNG: the first frame is the photo
    image.load()  # also closes the file Pillow opened
    icc = image.info.get("icc_profile") or None
    rgb, icc = _to_rgb(image, icc if isinstance(icc, bytes) else None)
    if orientation in _TRANSPOSE:
        rgb = rgb.transpose(_TRANSPOSE[orientation])
    rgb.info = {}
    return rgb, icc


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:120]


def make_variants(
    image: Image.Image,
    out_dir: Path,
    *,
    filter_name: str,
    icc: bytes | None,
    quality: Quality,
) -> PhotoResult:
    """Write the feed variants (thumbnail, feed, full) and the story variants (story,
    story_full), each as JPEG and WebP.

    Full is at most 1080 wide and feed at most 640, both centre-cropped into 4:5..1.91:1 and never
    wider than the (cropped) source; the thumbnail is the centre square of full, 150x150 or the
    square's own side when that is smaller. story_full (at most 1080 wide, 1080x1920 for a 9:16
    source) and story (at most 720 wide) keep anything from 9:16 to 1.91:1 and crop taller
    pictures to 9:16, never upscaled. Every photo gets both shapes, so one processed for a post
    can be a story and the other way round without a surprise; where both shapes are the same
    (4:5 to 1.91:1), story_full is the full file itself. The filter is applied once per shape,
    before the smaller variants are made from it, so every variant shows the same picture.
    """
    box = clamp_box(image.width, image.height)
    crop_width, crop_height = box[2] - box[0], box[3] - box[1]
    full = _resized(image, variant_size(crop_width, crop_height, FULL_WIDTH), box)
    full = filters.apply(filter_name, full)
    feed = _resized(full, variant_size(full.width, full.height, FEED_WIDTH), None)
    side = min(full.width, full.height)
    left, top = (full.width - side) // 2, (full.height - side) // 2
    thumb_side = min(THUMBNAIL_SIDE, side)
    thumbnail = _resized(full, (thumb_side, thumb_side), (left, top, left + side, top + side))
    renditions: list[Rendition] = []
    for name, variant in (("thumbnail", thumbnail), ("feed", feed), ("full", full)):
        renditions.append(_save(variant, out_dir, name, "JPEG", icc=icc, quality=quality.jpeg))
        renditions.append(_save(variant, out_dir, name, "WEBP", icc=icc, quality=quality.webp))
    story_box = clamp_box(image.width, image.height, min_aspect=STORY_MIN_ASPECT)
    if story_box == box:
        story_full = full
        for rendition in renditions[-2:]:  # the same picture: the same files, another name
            renditions.append(replace(rendition, name=rendition.name.replace("full", "story_full")))
    else:
        story_width, story_height = story_box[2] - story_box[0], story_box[3] - story_box[1]
        size = variant_size(story_width, story_height, STORY_FULL_WIDTH)
        story_full = filters.apply(filter_name, _resized(image, size, story_box))
        for fmt, q in (("JPEG", quality.jpeg), ("WEBP", quality.webp)):
            renditions.append(_save(story_full, out_dir, "story_full", fmt, icc=icc, quality=q))
    story = _resized(
        story_full, variant_size(story_full.width, story_full.height, STORY_WIDTH), None
    )
    for fmt, q in (("JPEG", quality.jpeg), ("WEBP", quality.webp)):
        renditions.append(_save(story, out_dir, "story", fmt, icc=icc, quality=q))
    return PhotoResult(
        width=full.width,
        height=full.height,
        renditions=renditions,
        story_width=story_full.width,
        story_height=story_full.height,
    )


def _resized(
    image: Image.Image, size: tuple[int, int], box: tuple[int, int, int, int] | None
) -> Image.Image:
    """Return the box of an image at a size; a plain crop (or copy) when no scaling is needed."""
    region = box or (0, 0, image.width, image.height)
    if size == (region[2] - region[0], region[3] - region[1]):
        return image.crop(region) if box else image.copy()
    # reducing_gap makes Pillow shrink by whole factors first (fast), then resample (sharp).
    return image.resize(size, Image.Resampling.LANCZOS, box=region, reducing_gap=3.0)


def process_photo(
    source: Path,
    out_dir: Path,
    *,
    filter_name: str,
    limits: PhotoLimits,
    quality: Quality,
    keep_original: bool,
) -> PhotoResult:
    """Check a photo and write its renditions into out_dir; raise MediaRejected when refused.

    The kept original is the whole picture, upright and unfiltered, as a baseline JPEG (it is
    archived, not served, so it skips progressive encoding). A JPEG is decoded a second time at a
    reduced scale for the variants: that decode plus a small resize costs less than resizing the
    full-size pixels, and without a kept original the full size is never decoded at all.
    """
    original: Rendition | None = None
    if keep_original:
        whole = open_photo(source, limits=limits, draft_for_variants=False)
        original = _save(
            whole.image,
            out_dir,
            "original",
            "JPEG",
            icc=whole.icc,
            quality=quality.original_jpeg,
            archival=True,
        )
        decoded = (
            open_photo(source, limits=limits, draft_for_variants=True)
            if whole.format == "JPEG"
            else whole
        )
    else:
        decoded = open_photo(source, limits=limits, draft_for_variants=True)
    result = make_variants(
        decoded.image, out_dir, filter_name=filter_name, icc=decoded.icc, quality=quality
    )
    if original is not None:
        result.renditions.insert(0, original)
    return result
