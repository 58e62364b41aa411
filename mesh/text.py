"""The one rule for characters in free text people write (names, bios, captions, comments).

Text shown to other people must read as it is stored. Following Unicode's guidance against
spoofing (UTS #39 §3.1 and UAX #9 §2-3: explicit directional formatting characters reorder the
text around them; default-ignorable code points draw nothing), this refuses:

- C0/C1 controls, except a newline where the field allows lines;
- explicit bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which
  make "txt.exe" show as "exe.txt"; the implicit marks LRM, RLM and ALM stay, as right-to-left
  writers need them and they reorder nothing out of line;
- invisible format characters (general category Cf: zero-width space, word joiner, BOM, invisible
  operators, ...) and invisible letters (Hangul fillers, the Braille blank), line and paragraph
  separators, and the combining grapheme joiner;

while keeping what real text needs: ZWJ and ZWNJ (emoji sequences, Indic and Persian scripts),
variation selectors (emoji presentation), the visible prepended concatenation marks of Arabic
and Syriac, and tag characters inside an emoji flag sequence (U+1F3F4, tags, U+E007F).
"""

from __future__ import annotations

import unicodedata

from mesh.errors import InvalidArgument

# Format characters (Cf) that real text needs and that display as what they are.
_ALLOWED_FORMAT = frozenset(
    {
        "\u200c",  # ZWNJ: Persian, Indic scripts
        "\u200d",  # ZWJ: emoji sequences, Indic scripts
        "\u200e",  # LRM
        "\u200f",  # RLM
        "\u061c",  # ALM
        *map(chr, range(0x0600, 0x0606)),  # Arabic number signs (visible)
        "\u06dd",
        "\u070f",
        "\u08e2",
        "\U000110bd",
        "\U000110cd",
    }
)
# Explicit directional formatting characters (UAX #9 §2.1-2.4): refused even though they are Cf,
# named here so the error says what they are.
_BIDI_CONTROLS = frozenset({*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))})
# Invisible characters that are not Cf.
_INVISIBLE = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u034f"})
_BLACK_FLAG = "\U0001f3f4"
_CANCEL_TAG = "\U000e007f"


def _is_tag(ch: str) -> bool:
    return "\U000e0020" <= ch <= "\U000e007e"


def _flag_tags(value: str) -> set[int]:
    """Return the positions of tag characters that belong to an emoji flag sequence."""
    inside: set[int] = set()
    i = 0
    while i < len(value):
        if value[i] == _BLACK_FLAG:
            j = i + 1
            while j < len(value) and _is_tag(value[j]):
                j += 1
            if j > i + 1 and j < len(value) and value[j] == _CANCEL_TAG:
                inside.update(range(i + 1, j + 1))
                i = j
        i += 1
    return inside


def refused_character(value: str, *, multiline: bool) -> str | None:
    """Return the first character of the text the rule refuses, or None when it has none."""
    flag_tags: set[int] | None = None
    for i, ch in enumerate(value):
        if ch == "\n" and multiline:
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS or ch in _INVISIBLE:
            return ch
        if category == "Cf" and ch not in _ALLOWED_FORMAT:
            if _is_tag(ch) or ch == _CANCEL_TAG:
                if flag_tags is None:
                    flag_tags = _flag_tags(value)
                if i in flag_tags:
                    continue
            return ch
    return None


def check_free_text(field: str, value: str, *, limit: int, multiline: bool, required: bool) -> str:
    """Return NFC-normalised, trimmed text, or raise InvalidArgument naming the field and the
    first refused character (as U+XXXX, since it may not show)."""
    value = unicodedata.normalize("NFC", value).strip()
    if required and not value:
        raise InvalidArgument.field(field, "is required")
    bad = refused_character(value, multiline=multiline)
    if bad is not None:
        kind = (
            "text-direction control"
            if bad in _BIDI_CONTROLS
            else "control"
            if unicodedata.category(bad) == "Cc"
            else "invisible"
        )
        lines = "" if not multiline else " (newlines are fine)"
        raise InvalidArgument.field(
            field, f"must not contain {kind} characters such as U+{ord(bad):04X}{lines}"
        )
    if len(value) > limit:
        raise InvalidArgument.field(field, f"must be at most {limit} characters")
    return value
