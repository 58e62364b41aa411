"""Tell media formats from their first bytes, never from names or declared types.

Cheap enough to run on the first chunk of a stream; the worker confirms with a real decoder.
"""

from __future__ import annotations

from typing import Literal

# Enough bytes to see every signature below (ISO BMFF keeps brands in the first box).
HEAD_BYTES = 64

PhotoFormat = Literal["JPEG", "PNG", "WEBP", "HEIF"]
VideoFormat = Literal["MP4", "MOV"]
Kind = Literal["photo", "video"]

# ISO base media brands: HEIF still images, and the MP4 / QuickTime video families.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}
_MP4_BRANDS = {
    b"isom",
    b"iso2",
    b"iso3",
    b"iso4",
    b"iso5",
    b"iso6",
    b"mp41",
    b"mp42",
    b"avc1",
    b"M4V ",
    b"M4VH",
    b"M4VP",
    b"dash",
    b"MSNV",
}
_MOV_BRANDS = {b"qt  "}
# Old QuickTime files may start with one of these atoms instead of ftyp.
_MOV_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def _brands(head: bytes) -> tuple[bytes, set[bytes]] | None:
    """Return the major and compatible brands of an ISO BMFF `ftyp` box at the start."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    end = min(size, len(head)) if size >= 16 else 16
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    return head[8:12], compatible


def photo_format(head: bytes) -> PhotoFormat | None:
    """Return the photo format the bytes start with, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    brands = _brands(head)
    if brands is not None:
        major, compatible = brands
        # AVIF also declares mif1; it is a different codec that we do not accept.
        if b"avif" in compatible or major in (b"avif", b"avis"):
            return None
        if major in _HEIF_BRANDS:
            return "HEIF"
    return None


def video_format(head: bytes) -> VideoFormat | None:
    """Return the video container the bytes start with, or None."""
    brands = _brands(head)
    if brands is not None:
        major, compatible = brands
        if major in _MOV_BRANDS:
            return "MOV"
        if major in _MP4_BRANDS or (
            major not in _HEIF_BRANDS and major != b"avif" and compatible & _MP4_BRANDS
        ):
            return "MP4"
        return None
    if len(head) >= 8 and head[4:8] in _MOV_ATOMS:
        return "MOV"
    return None


def kind_of(head: bytes) -> Kind | None:
    """Return whether the bytes start like a photo or a video we accept, or None."""
    if photo_format(head) is not None:
        return "photo"
    if video_format(head) is not None:
        return "video"
    return None
