"""A corpus of small normal and hostile files that the tests make themselves; output checks."""

from __future__ import annotations

import functools
import io
import struct
import subprocess
import zlib
from pathlib import Path

from PIL import Image, ImageCms, ImageDraw

GPS_LATITUDE = (37.0, 46.0, 30.0)
SECRET_COMMENT = b"secret-comment-1234"
SECRET_XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret-xmp-5678</x:xmpmeta>'
POLYGLOT_PAYLOAD = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n<script>alert(1)</script>\n%%EOF\n"


@functools.cache
def srgb_icc() -> bytes:
    """Return an sRGB ICC profile (the same bytes every time: it embeds its creation time)."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return bytes(profile.tobytes())


def photo(
    size: tuple[int, int] = (800, 600), colour: tuple[int, int, int] = (40, 120, 200)
) -> Image.Image:
    """Return a picture with a red block in its top-left corner (to check orientation)."""
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 4, size[1] // 4), fill=(255, 0, 0))
    return image


def jpeg(
    size: tuple[int, int] = (800, 600),
    *,
    orientation: int | None = None,
    gps: bool = False,
    comment: bool = False,
    xmp: bool = False,
    icc: bool = False,
    quality: int = 85,
) -> bytes:
    """Return a JPEG, with whatever metadata asked for."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: GPS_LATITUDE, 3: "W", 4: (122.0, 25.0, 10.0)}
    exif[0x010F] = "SecretCam"  # Make
    options: dict[str, object] = {"quality": quality, "exif": exif.tobytes()}
    if comment:
        options["comment"] = SECRET_COMMENT
    if xmp:
        options["xmp"] = SECRET_XMP
    if icc:
        options["icc_profile"] = srgb_icc()
    out = io.BytesIO()
    photo(size).save(out, "JPEG", **options)
    return out.getvalue()


def png(size: tuple[int, int] = (640, 480), *, mode: str = "RGB") -> bytes:
    """Return a PNG in a mode (RGBA gets a transparent half)."""
    image = photo(size).convert(mode)
    if mode == "RGBA":
        alpha = Image.new("L", size, 255)
        ImageDraw.Draw(alpha).rectangle((size[0] // 2, 0, size[0], size[1]), fill=0)
        image.putalpha(alpha)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def png16(size: tuple[int, int] = (300, 200)) -> bytes:
    """Return a 16-bit greyscale PNG."""
    image = Image.frombytes("I;16", size, struct.pack("<H", 40000) * (size[0] * size[1]))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def webp(size: tuple[int, int] = (640, 480)) -> bytes:
    """Return a WebP."""
    out = io.BytesIO()
    photo(size).save(out, "WEBP", quality=80)
    return out.getvalue()


def heic(size: tuple[int, int] = (640, 480)) -> bytes:
    """Return a HEIC (pillow-heif's encoder)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()
    out = io.BytesIO()
    photo(size).save(out, "HEIF", quality=80)
    return out.getvalue()


def cmyk_jpeg(size: tuple[int, int] = (400, 300)) -> bytes:
    """Return a CMYK JPEG (as print workflows make)."""
    out = io.BytesIO()
    photo(size).convert("CMYK").save(out, "JPEG")
    return out.getvalue()


def truncated_jpeg() -> bytes:
    """Return a JPEG cut off in the middle of its scan."""
    data = jpeg((1200, 900), quality=95)
    return data[: len(data) // 2]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 16_000, height: int = 16_000) -> bytes:
    """Return a real decompression bomb: a tiny 1-bit PNG whose zeros inflate to huge pixels."""
    raw_row = b"\0" + b"\0" * ((width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(raw_row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def tall_strip(width: int = 1, height: int = 20_000) -> bytes:
    """Return a PNG with absurd dimensions (few pixels, one side far over the limit)."""
    out = io.BytesIO()
    Image.new("L", (width, height), 128).save(out, "PNG")
    return out.getvalue()


def pdf() -> bytes:
    """Return a minimal PDF (to be uploaded as if it were a .jpg)."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def svg() -> bytes:
    """Return an SVG with a script in it."""
    return (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>alert(1)</script><rect width='10' height='10'/></svg>"
    )


def eps() -> bytes:
    """Return an EPS file (PostScript, which Pillow would run Ghostscript on)."""
    return (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto showpage\n%%EOF\n"
    )


def polyglot() -> bytes:
    """Return a valid JPEG that is also a PDF and HTML: payload after the image's end."""
    return jpeg((320, 240)) + POLYGLOT_PAYLOAD


def tiny() -> bytes:
    """Return a 1x1 PNG."""
    out = io.BytesIO()
    Image.new("RGB", (1, 1), (0, 255, 0)).save(out, "PNG")
    return out.getvalue()


def panorama() -> bytes:
    """Return a 10:1 JPEG."""
    return jpeg((3000, 300))


def video(
    ffmpeg: str,
    dest: Path,
    *,
    seconds: float = 1.0,
    size: str = "320x240",
    rate: int = 10,
    rotation: int | None = None,
    audio: bool = True,
) -> bytes:
    """Make an H.264 MP4 with ffmpeg's test pattern, GPS-like location metadata and a title."""
    args = [ffmpeg, "-v", "error", "-y", "-f", "lavfi"]
    args += ["-i", f"testsrc=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac"] if audio else []
    args += ["-metadata", "location=+37.7749-122.4194/", "-metadata", "title=secret-title"]
    args += ["-movflags", "+use_metadata_tags", str(dest)]
    subprocess.run(args, check=True, capture_output=True)
    if rotation is not None:
        rotated = dest.with_name("rotated-" + dest.name)
        subprocess.run(
            [ffmpeg, "-v", "error", "-y", "-display_rotation", str(rotation), "-i", str(dest)]
            + ["-c", "copy", "-movflags", "+use_metadata_tags", str(rotated)],
            check=True,
            capture_output=True,
        )
        rotated.replace(dest)
    return dest.read_bytes()


def jpeg_markers(data: bytes) -> list[int]:
    """Return the marker bytes of a JPEG's header segments, up to the start of scan."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    markers, i = [], 2
    while i < len(data):
        assert data[i] == 0xFF, f"bad marker at {i}"
        marker = data[i + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return markers
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        i += 2 + length
    return markers


def webp_chunks(data: bytes) -> list[bytes]:
    """Return the chunk names of a WebP (RIFF) file."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", "not a WebP"
    names, i = [], 12
    while i + 8 <= len(data):
        name, size = data[i : i + 4], int.from_bytes(data[i + 4 : i + 8], "little")
        names.append(name)
        i += 8 + size + (size & 1)
    return names


# APP0 (JFIF), APP2 (ICC), APP14 (Adobe colour transform), tables, frames and the scan.
ALLOWED_JPEG_MARKERS = {0xE0, 0xE2, 0xEE, 0xDB, 0xC4, 0xC0, 0xC1, 0xC2, 0xDD, 0xDA}
ALLOWED_WEBP_CHUNKS = {b"VP8 ", b"VP8L", b"VP8X", b"ICCP", b"ALPH"}
SECRETS = (SECRET_COMMENT, b"secret-xmp", b"SecretCam", POLYGLOT_PAYLOAD[:20], b"<script>")


def assert_clean(data: bytes, *, name: str = "") -> None:
    """Assert that a rendition has no metadata but an ICC profile, and none of our secrets."""
    if data[:2] == b"\xff\xd8":
        extra = set(jpeg_markers(data)) - ALLOWED_JPEG_MARKERS
        assert not extra, f"{name}: unexpected JPEG segments {sorted(hex(m) for m in extra)}"
        assert data.rstrip(b"\0").endswith(b"\xff\xd9"), f"{name}: bytes after the JPEG's end"
    elif data[:4] == b"RIFF":
        chunks = set(webp_chunks(data)) - ALLOWED_WEBP_CHUNKS
        assert not chunks, f"{name}: unexpected WebP chunks {chunks}"
    else:
        raise AssertionError(f"{name}: neither JPEG nor WebP")
    image = Image.open(io.BytesIO(data))
    assert not image.getexif(), f"{name}: EXIF survived"
    assert "xmp" not in image.info and "comment" not in image.info, f"{name}: XMP/comment survived"
    for secret in SECRETS:
        assert secret not in data, f"{name}: {secret!r} survived"
