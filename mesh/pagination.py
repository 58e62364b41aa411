"""AIP-158 pagination: page sizes with a default and a ceiling, and opaque page tokens."""

from __future__ import annotations

import base64
import json
from typing import Any

from mesh.errors import InvalidArgument

MAX_TOKEN_CHARS = 512


def page_size(requested: int, *, default: int = 20, maximum: int = 50) -> int:
    """Return the page size: 0 means the default, too large is clamped, negative is refused."""
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    if requested == 0:
        return default
    return min(requested, maximum)


def encode_token(cursor: dict[str, Any]) -> str:
    """Return an opaque token for a cursor."""
    raw = json.dumps(cursor, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any] | None:
    """Return the cursor of a token (None for the first page); refuse tokens we did not make."""
    if not token:
        return None
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidArgument.field("page_token", "is not a token this service issued")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        cursor = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument.field("page_token", "is not a token this service issued") from None
    if not isinstance(cursor, dict):
        raise InvalidArgument.field("page_token", "is not a token this service issued")
    return cursor
