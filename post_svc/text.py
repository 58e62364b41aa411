"""Captions and comments: cleaning the text and reading its #hashtags and @mentions.

Hashtags are Unicode-aware: a tag is `#` followed by letters, marks, digits and underscores of
any script (`#café`, `#東京`, `#नमस्ते`), holding at least one letter, and not glued to a word
before it (`a#b` is no tag). Tags compare ignoring case and are kept lower-cased.

Mentions follow usernames: `@` followed by 1 to 30 of [A-Za-z0-9._], not glued to a word before
it (so `email@host` is no mention) nor followed by more word characters or another `@`. Periods
that end the run end the sentence, not the name (`@bob.` mentions bob).
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass

from mesh.errors import InvalidArgument
from mesh.text import check_client_key, check_free_text
from mesh.text import clean as clean  # shared with message_svc; post_svc.domain uses it too

TEXT_MAX = 2200
HASHTAGS_MAX = 30
HASHTAG_MAX_CHARS = 100
MENTIONS_MAX = 20
USERNAME_MAX = 30
IDEMPOTENCY_KEY_MAX = 128
ALT_TEXT_MAX = 1000

_USERNAME_CHARS = frozenset(string.ascii_letters + string.digits + "._")


@dataclass(frozen=True)
class ParsedText:
    """Cleaned text with the distinct hashtags and mentions it holds, in order of appearance."""

    text: str
    hashtags: tuple[str, ...]
    # Lower-cased usernames (usernames are unique ignoring case).
    mentions: tuple[str, ...]


def is_tag_char(ch: str) -> bool:
    """Tell whether a character may be part of a hashtag: a letter, mark, digit or underscore."""
    return ch == "_" or unicodedata.category(ch)[0] in "LMN"


def normalise_tag(tag: str) -> str:
    """Return the stored form of a tag: NFC, lower-cased, without a leading '#'."""
    return unicodedata.normalize("NFC", tag).strip().removeprefix("#").lower()


def hashtags_of(text: str) -> list[str]:
    """Return every hashtag of a text in order, lower-cased, duplicates included."""
    found: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] != "#" or (i > 0 and (is_tag_char(text[i - 1]) or text[i - 1] == "&")):
            i += 1
            continue
        end = i + 1
        while end < n and is_tag_char(text[end]):
            end += 1
        tag = text[i + 1 : end]
        # All-digit runs (#1, #2024) are numbers, not tags.
        if tag and any(unicodedata.category(ch)[0] == "L" for ch in tag):
            found.append(tag.lower())
        i = max(end, i + 1)
    return found


def mentions_of(text: str) -> list[str]:
    """Return every @mention of a text in order, lower-cased, duplicates included."""
    found: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] != "@" or (i > 0 and (is_tag_char(text[i - 1]) or text[i - 1] in "@.")):
            i += 1
            continue
        end = i + 1
        while end < n and text[end] in _USERNAME_CHARS:
            end += 1
        name = text[i + 1 : end].rstrip(".")
        glued = end < n and (is_tag_char(text[end]) or text[end] == "@")
        if name and not glued and _valid_username(name):
            found.append(name.lower())
        i = max(end, i + 1)
    return found


def _valid_username(name: str) -> bool:
    return len(name) <= USERNAME_MAX and not name.startswith(".") and ".." not in name


def parse(field: str, value: str, *, required: bool) -> ParsedText:
    """Clean a caption or comment and read its hashtags and mentions, enforcing every limit."""
    text = clean(field, value, limit=TEXT_MAX, required=required)
    tags = list(dict.fromkeys(hashtags_of(text)))
    too_long = next((t for t in tags if len(t) > HASHTAG_MAX_CHARS), None)
    if too_long is not None:
        raise InvalidArgument.field(
            field, f"a hashtag may have at most {HASHTAG_MAX_CHARS} characters (#{too_long[:20]}…)"
        )
    if len(tags) > HASHTAGS_MAX:
        raise InvalidArgument.field(field, f"may hold at most {HASHTAGS_MAX} distinct hashtags")
    mentions = list(dict.fromkeys(mentions_of(text)))
    if len(mentions) > MENTIONS_MAX:
        raise InvalidArgument.field(field, f"may mention at most {MENTIONS_MAX} distinct accounts")
    return ParsedText(text=text, hashtags=tuple(tags), mentions=tuple(mentions))


def check_idempotency_key(key: str) -> str | None:
    """Return the key (None when empty) or raise InvalidArgument."""
    return check_client_key("idempotency_key", key, limit=IDEMPOTENCY_KEY_MAX)


def check_alt_texts(alt_texts: list[str], *, media_count: int, field: str) -> tuple[str, ...]:
    """Return the cleaned alt texts of a post's media, one per piece of media ("" for none), or
    raise InvalidArgument: at most one per piece, each on one line of at most ALT_TEXT_MAX
    characters under the shared text rule."""
    if len(alt_texts) > media_count:
        raise InvalidArgument.field(
            field, f"gives {len(alt_texts)} alt texts for {media_count} pieces of media"
        )
    cleaned = [
        check_free_text(
            f"{field}[{i}]" if field.endswith("s") else field,
            value,
            limit=ALT_TEXT_MAX,
            multiline=False,
            required=False,
        )
        for i, value in enumerate(alt_texts)
    ]
    cleaned += [""] * (media_count - len(cleaned))
    return tuple(cleaned) if any(cleaned) else ()
