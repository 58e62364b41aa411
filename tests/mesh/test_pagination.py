"""Page sizes follow AIP-158 and page tokens are opaque but checked."""

from __future__ import annotations

import pytest

from mesh import pagination
from mesh.errors import InvalidArgument


def test_page_size_default_clamp_and_negative() -> None:
    assert pagination.page_size(0, default=20, maximum=50) == 20
    assert pagination.page_size(1, default=20, maximum=50) == 1
    assert pagination.page_size(50, default=20, maximum=50) == 50
    assert pagination.page_size(51, default=20, maximum=50) == 50
    with pytest.raises(InvalidArgument) as caught:
        pagination.page_size(-1)
    assert caught.value.violations[0].field == "page_size"


def test_token_round_trip_and_first_page() -> None:
    cursor = {"after": "bob", "tier": 1}
    assert pagination.decode_token(pagination.encode_token(cursor)) == cursor
    assert pagination.decode_token("") is None


@pytest.mark.parametrize("token", ["not-base64!!", "bm90IGpzb24", "WzEsMl0", "x" * 513])
def test_foreign_tokens_are_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        pagination.decode_token(token)
    assert caught.value.violations[0].field == "page_token"
