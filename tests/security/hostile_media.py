"""A hostile-media corpus the security tests make themselves: ICC payloads, SEI payloads, bombs,
polyglots and files that lie about their type. Every payload carries a marker that must never
come back from /media."""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageCms

# What an attacker hides: markup for a browser that sniffs, and a location to leak.
PAYLOAD = b"<html><script>alert('icc')</script>GPS 51.50072,-0.12462 hostile-marker-7f3a</html>"
MARKER = b"hostile-marker-7f3a"
SEI_UUID = "086f3693-b7b3-4f2c-9653-21492feee5b8"
SEI_TEXT = "GPS 51.50072 -0.12462 sei-marker-41c2"  # no commas: they separate filters
SEI_MARKER = b"sei-marker-41c2"
FFMPEG = str(imageio_ffmpeg.get_ffmpeg_exe())


def _photo(size: tuple[int, int]) -> Image.Image:
    image = Image.new("RGB", size, (30, 140, 200))
    image.paste((250, 20, 20), (0, 0, size[0] // 3, size[1] // 3))
    return image


def icc_with_payload(pad_to: int = 0) -> bytes:
    """Return a well-formed sRGB profile with the payload (and padding) after its tags, its size
    field covering them: littleCMS parses it, and a verbatim copy carries the payload along."""
    base = bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    body = base + PAYLOAD
    if pad_to > len(body):
        body += MARKER * ((pad_to - len(body)) // len(MARKER) + 1)
    return struct.pack(">I", len(body)) + body[4:]


def garbage_icc() -> bytes:
    """Return a 'profile' that is no profile at all: the payload with an ICC-like header."""
    return struct.pack(">I", 128 + len(PAYLOAD)) + b"lcms" + b"\0" * 120 + PAYLOAD


def jpeg_with_icc(icc: bytes, size: tuple[int, int] = (800, 600)) -> bytes:
    """Return a JPEG carrying this ICC profile (split over APP2 segments as the format says)."""
    out = io.BytesIO()
    _photo(size).save(out, "JPEG", quality=85, icc_profile=icc)
    return out.getvalue()


def png_with_icc(icc: bytes, size: tuple[int, int] = (640, 480)) -> bytes:
    """Return a PNG whose iCCP chunk holds this profile."""
    out = io.BytesIO()
    _photo(size).save(out, "PNG", icc_profile=icc)
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, depth: int, colour: int, row: bytes) -> bytes:
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def pixel_bomb() -> bytes:
    """Return a 1-bit 16000x16000 PNG of a few KB: 256 million pixels."""
    return _png(16_000, 16_000, 1, 0, b"\0" * (1 + 2000))


def deep_bomb(side: int = 6320) -> bytes:
    """Return a 16-bit greyscale PNG of 6320x6320 (under the pixel limit) of about 300 KB that
    needs hundreds of MB to decode: the review's 704 MB file."""
    return _png(side, side, 16, 0, b"\0" + b"\x9c\x40" * side)


def polyglot() -> bytes:
    """Return a valid JPEG that is also HTML: the payload after the image's end."""
    out = io.BytesIO()
    _photo((320, 240)).save(out, "JPEG")
    return out.getvalue() + PAYLOAD


def html_as_image() -> bytes:
    """Return an HTML page, to be declared as a JPEG."""
    return b"<!doctype html><html><body>" + PAYLOAD + b"</body></html>"


def svg() -> bytes:
    """Return an SVG with a script (an image format browsers run scripts in)."""
    return b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def video_with_sei(dest: Path, *, seconds: float = 1.0) -> bytes:
    """Return an H.264 MP4 whose every key frame carries SEI user data with a GPS string."""
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi"]
        + ["-i", f"testsrc=size=320x240:rate=10:duration={seconds}"]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        + ["-bsf:v", f"h264_metadata=sei_user_data={SEI_UUID}+{SEI_TEXT}", str(dest)],
        check=True,
        capture_output=True,
    )
    data = dest.read_bytes()
    assert SEI_MARKER in data, "ffmpeg did not write the SEI payload"
    return data
