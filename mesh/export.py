"""Data export's shared pieces: the JSON files each owner service contributes to an account's
export ZIP (media_svc builds the ZIP; see docs/architecture.md, "Download your data")."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

# The most rows of one kind a service puts in an export: far more than anyone makes, and a bound
# on the memory one export takes.
EXPORT_ROWS_MAX = 100_000
EXPORT_PAGE = 500


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_file(data: Any) -> bytes:
    """Return the content of one export file: indented UTF-8 JSON, times in ISO 8601, 64-bit ids
    as strings (as the API writes them)."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=_plain).encode()
