"""Named photo filters in the style of Instagram's, made of Pillow operations.

Each filter takes and returns an RGB image of the same size: colour enhancement (ImageEnhance),
per-channel tone curves applied as one lookup table (Image.point), a colour matrix for sepia
tones, and ImageOps for black and white. Everything is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PIL import Image, ImageEnhance, ImageOps

Filter = Callable[[Image.Image], Image.Image]
Curve = Sequence[tuple[int, int]]

NORMAL = "normal"
IDENTITY: Curve = ((0, 0), (255, 255))
# A sepia colour matrix (R', G', B' as mixes of R, G, B), used in small doses for warmth.
_SEPIA = (
    0.393, 0.769, 0.189, 0,
    0.349, 0.686, 0.168, 0,
    0.272, 0.534, 0.131, 0,
)  # fmt: skip


def curve_table(points: Curve) -> list[int]:
    """Return a 256-entry lookup table through the control points (linear between them)."""
    table = []
    for x in range(256):
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            if x0 <= x <= x1:
                y = y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
                table.append(max(0, min(255, round(y))))
                break
        else:
            raise ValueError("curve points must start at x=0 and end at x=255")
    return table


def tone(
    image: Image.Image, *, r: Curve = IDENTITY, g: Curve = IDENTITY, b: Curve = IDENTITY
) -> Image.Image:
    """Apply one tone curve per channel in a single lookup pass."""
    return image.point(curve_table(r) + curve_table(g) + curve_table(b))


def adjust(
    image: Image.Image,
    *,
    brightness: float = 1.0,
    contrast: float = 1.0,
    saturation: float = 1.0,
) -> Image.Image:
    """Change brightness, contrast and saturation (1.0 leaves each as it is)."""
    if brightness != 1.0:
        image = ImageEnhance.Brightness(image).enhance(brightness)
    if contrast != 1.0:
        image = ImageEnhance.Contrast(image).enhance(contrast)
    if saturation != 1.0:
        image = ImageEnhance.Color(image).enhance(saturation)
    return image


def sepia(image: Image.Image, amount: float) -> Image.Image:
    """Blend a sepia-toned copy in: 0 leaves the image alone, 1 is full sepia."""
    return Image.blend(image, image.convert("RGB", _SEPIA), amount)


def clarendon(image: Image.Image) -> Image.Image:
    """Bright, punchy colour with cool highlights and deeper shadows."""
    image = adjust(image, contrast=1.2, saturation=1.35)
    return tone(
        image,
        r=((0, 0), (64, 56), (192, 200), (255, 255)),
        g=((0, 0), (64, 58), (192, 204), (255, 255)),
        b=((0, 12), (64, 70), (192, 214), (255, 255)),
    )


def gingham(image: Image.Image) -> Image.Image:
    """A washed-out, vintage look: lifted blacks, softer contrast, a hint of yellow."""
    image = adjust(image, brightness=1.05, contrast=0.9, saturation=0.85)
    return tone(
        image,
        r=((0, 32), (128, 140), (255, 248)),
        g=((0, 30), (128, 136), (255, 244)),
        b=((0, 36), (128, 128), (255, 232)),
    )


def juno(image: Image.Image) -> Image.Image:
    """Warm, saturated tones with vivid reds and yellows."""
    image = adjust(image, contrast=1.15, saturation=1.4)
    return tone(
        image,
        r=((0, 0), (128, 138), (255, 255)),
        g=((0, 0), (128, 130), (255, 250)),
        b=((0, 0), (128, 116), (255, 236)),
    )


def lark(image: Image.Image) -> Image.Image:
    """Brighter and cooler, with lifted shadows and quieter colour."""
    image = adjust(image, brightness=1.08, contrast=0.9, saturation=0.9)
    return tone(
        image,
        r=((0, 20), (128, 130), (255, 250)),
        g=((0, 22), (128, 134), (255, 255)),
        b=((0, 28), (128, 140), (255, 255)),
    )


def moon(image: Image.Image) -> Image.Image:
    """Black and white with brighter mids, crisp contrast and lifted blacks."""
    gray = ImageOps.grayscale(image)
    gray = ImageEnhance.Contrast(gray).enhance(1.1)
    gray = gray.point(curve_table(((0, 16), (128, 146), (255, 255))))
    return gray.convert("RGB")


def valencia(image: Image.Image) -> Image.Image:
    """A warm, faded glow: slight sepia, raised reds and blacks."""
    image = sepia(adjust(image, brightness=1.08, contrast=1.08), 0.08)
    return tone(
        image,
        r=((0, 26), (128, 144), (255, 255)),
        g=((0, 14), (128, 130), (255, 246)),
        b=((0, 16), (128, 118), (255, 228)),
    )


def reyes(image: Image.Image) -> Image.Image:
    """A dusty, light vintage look: low contrast, low saturation, cream highlights."""
    image = sepia(adjust(image, brightness=1.1, contrast=0.85, saturation=0.75), 0.22)
    return tone(image, r=((0, 40), (255, 255)), g=((0, 36), (255, 250)), b=((0, 32), (255, 238)))


def aden(image: Image.Image) -> Image.Image:
    """Pastel, slightly blue-pink tones with soft contrast."""
    image = adjust(image, brightness=1.08, contrast=0.9, saturation=0.85)
    return tone(
        image,
        r=((0, 24), (128, 140), (255, 255)),
        g=((0, 16), (128, 128), (255, 246)),
        b=((0, 30), (128, 138), (255, 250)),
    )


FILTERS: dict[str, Filter] = {
    NORMAL: lambda image: image,
    "clarendon": clarendon,
    "gingham": gingham,
    "juno": juno,
    "lark": lark,
    "moon": moon,
    "valencia": valencia,
    "reyes": reyes,
    "aden": aden,
}


def apply(name: str, image: Image.Image) -> Image.Image:
    """Return the image with a named filter applied (KeyError for unknown names)."""
    return FILTERS[name](image.convert("RGB") if image.mode != "RGB" else image)
