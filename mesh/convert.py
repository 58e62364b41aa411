"""Small conversions between Python values and well-known protobuf types."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    """Return a protobuf Timestamp for an aware datetime."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp
