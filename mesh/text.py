"""Text rules the services share: what people write (captions, comments, messages), client keys."""

from __future__ import annotations

import re
import unicodedata

from mesh.errors import InvalidArgument

_CLIENT_KEY = re.compile(r"[\x21-\x7e]+")


def clean(field: str, value: str, *, limit: int, required: bool) -> str:
    """Return NFC-normalised, trimmed text, or raise InvalidArgument naming the field."""
    value = unicodedata.normalize("NFC", value).strip()
    if required and not value:
        raise InvalidArgument.field(field, "is required")
    if any(unicodedata.category(ch) == "Cc" and ch != "\n" for ch in value):
        raise InvalidArgument.field(
            field, "must not contain control characters other than newlines"
        )
    if len(value) > limit:
        raise InvalidArgument.field(field, f"must be at most {limit} characters")
    return value


def check_client_key(field: str, key: str, *, limit: int) -> str | None:
    """Return a client-chosen key (idempotency key, client message id), None when empty, or raise
    InvalidArgument: at most `limit` printable ASCII characters without spaces."""
    if not key:
        return None
    if len(key) > limit:
        raise InvalidArgument.field(field, f"must be at most {limit} characters")
    if not _CLIENT_KEY.fullmatch(key):
        raise InvalidArgument.field(field, "must be printable ASCII without spaces")
    return key
