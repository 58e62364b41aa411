"""A log-linear latency histogram in the HDR style: bounded relative error, mergeable, tiny.

Values are recorded in microseconds. Each power-of-two range is split into SUB_BUCKETS equal
buckets, so a recorded value is off by less than 1/SUB_BUCKETS (under 1 %) from its bucket's
midpoint whatever its size, and histograms from several worker processes add up exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SUB_BUCKET_BITS = 7
SUB_BUCKETS = 1 << SUB_BUCKET_BITS  # 128 buckets per power of two: < 0.8 % relative error
MAX_MICROS = 3_600 * 1_000_000  # an hour; longer values are clamped


def _index(micros: int) -> int:
    value = max(0, min(micros, MAX_MICROS))
    if value < SUB_BUCKETS:
        return value
    exponent = value.bit_length() - SUB_BUCKET_BITS
    return (exponent << SUB_BUCKET_BITS) + (value >> exponent)


def _value(index: int) -> int:
    """Return the midpoint of a bucket, in microseconds."""
    if index < SUB_BUCKETS:
        return index
    # Buckets of 2**exponent microseconds, starting at sub * 2**exponent (sub in 64..127).
    exponent, sub = index >> SUB_BUCKET_BITS, index & (SUB_BUCKETS - 1)
    return (sub << exponent) + (1 << exponent) // 2


@dataclass
class Histogram:
    """Counts of latencies by bucket, plus the exact minimum and maximum."""

    counts: dict[int, int] = field(default_factory=dict)
    total: int = 0
    min_micros: int = 0
    max_micros: int = 0

    def record(self, seconds: float) -> None:
        """Add one latency."""
        micros = max(0, int(seconds * 1_000_000))
        index = _index(micros)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.min_micros = micros if self.total == 0 else min(self.min_micros, micros)
        self.max_micros = max(self.max_micros, micros)
        self.total += 1

    def merge(self, other: Histogram) -> None:
        """Add another histogram's counts to this one."""
        for index, count in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + count
        if other.total:
            self.min_micros = (
                other.min_micros if self.total == 0 else min(self.min_micros, other.min_micros)
            )
            self.max_micros = max(self.max_micros, other.max_micros)
            self.total += other.total

    def percentile(self, percent: float) -> float:
        """Return the latency (in milliseconds) at or below which `percent` % of values fall."""
        if self.total == 0:
            return 0.0
        if percent >= 100:
            return self.max_micros / 1000
        rank = max(1, int(self.total * percent / 100 + 0.999999))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(_value(index), self.max_micros) / 1000
        return self.max_micros / 1000

    def to_json(self) -> dict[str, object]:
        """Return the histogram as JSON-ready data (bucket indexes as strings)."""
        return {
            "counts": {str(k): v for k, v in self.counts.items()},
            "total": self.total,
            "min_micros": self.min_micros,
            "max_micros": self.max_micros,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Histogram:
        """Rebuild a histogram from to_json's data."""
        counts = data["counts"]
        assert isinstance(counts, dict)
        return cls(
            counts={int(k): int(v) for k, v in counts.items()},
            total=int(str(data["total"])),
            min_micros=int(str(data["min_micros"])),
            max_micros=int(str(data["max_micros"])),
        )
