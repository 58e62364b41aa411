"""Time-ordered 64-bit ids, Instagram style: milliseconds since our epoch | shard | sequence.

41 bits of milliseconds last about 69 years from the epoch; 13 shard bits allow 8192 shards;
10 sequence bits allow 1024 ids per millisecond per shard. Ids sort by creation time, which
makes them stable pagination cursors.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
SHARD_BITS = 13
SEQUENCE_BITS = 10
MAX_SHARD = (1 << SHARD_BITS) - 1
_SEQUENCE_MASK = (1 << SEQUENCE_BITS) - 1


class IdGenerator:
    """Make unique, increasing ids for one shard; safe to share between threads."""

    def __init__(self, shard: int = 0) -> None:
        if not 0 <= shard <= MAX_SHARD:
            raise ValueError(f"shard must be within 0..{MAX_SHARD}, got {shard}")
        self._shard = shard
        self._lock = threading.Lock()
        self._last_ms = 0
        self._sequence = 0

    def next_id(self) -> int:
        """Return a new id, larger than every id this generator returned before."""
        with self._lock:
            now = max(int(time.time() * 1000), self._last_ms)  # never run backwards with the clock
            if now == self._last_ms:
                self._sequence = (self._sequence + 1) & _SEQUENCE_MASK
                if self._sequence == 0:  # this millisecond is used up: borrow the next one
                    now += 1
            else:
                self._sequence = 0
            self._last_ms = now
            return (
                ((now - EPOCH_MS) << (SHARD_BITS + SEQUENCE_BITS))
                | (self._shard << SEQUENCE_BITS)
                | self._sequence
            )


def id_time(id_: int) -> datetime:
    """Return when an id was made."""
    ms = (id_ >> (SHARD_BITS + SEQUENCE_BITS)) + EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def id_at(moment: datetime) -> int:
    """Return the smallest id that could be made at a moment (for time-bounded range queries)."""
    ms = int(moment.timestamp() * 1000)
    return (ms - EPOCH_MS) << (SHARD_BITS + SEQUENCE_BITS)
