"""The edge's compiled JSON encoder gives exactly json_format's value, for every response (and
request) type of the route table: filled in every field, empty, and with values at the edges
(unknown enum numbers, big int64, non-ASCII text, bytes, infinities)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from google.protobuf import json_format, message_factory, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from edge_proxy import jsonenc
from edge_proxy.routes import build_route_table

_F = FieldDescriptor


def _scalar(field: FieldDescriptor, n: int) -> Any:
    kind = field.cpp_type
    if kind == _F.CPPTYPE_ENUM:
        assert field.enum_type is not None
        numbers = [v.number for v in field.enum_type.values]
        if not field.enum_type.is_closed and n % 3 == 2:
            return 999  # an unknown value of an open enum: printed as its number
        return numbers[n % len(numbers)]
    if kind == _F.CPPTYPE_STRING:
        return b"\x00\xffbytes" if field.type == _F.TYPE_BYTES else f'tëxt {n} ☃ "q"'
    if kind == _F.CPPTYPE_BOOL:
        return n % 2 == 0
    if kind in (_F.CPPTYPE_INT64, _F.CPPTYPE_UINT64):
        return 2**62 + n
    if kind in (_F.CPPTYPE_INT32, _F.CPPTYPE_UINT32):
        return 7 + n
    if kind == _F.CPPTYPE_DOUBLE:
        return [1.5, math.inf, -math.inf][n % 3]
    if kind == _F.CPPTYPE_FLOAT:
        return 0.1
    raise AssertionError(kind)


def _fill(message: Message, depth: int, n: int = 0) -> Message:
    descriptor: Any = message.DESCRIPTOR
    if descriptor.full_name == "google.protobuf.Timestamp":
        message.seconds, message.nanos = 1_790_000_000 + n, 123_000 * n  # type: ignore[attr-defined]
        return message
    if descriptor.full_name.startswith("google.protobuf.") or depth > 3:
        return message
    for field in descriptor.fields:
        if field.containing_oneof is not None and field.containing_oneof.fields[0] != field:
            continue  # one member per oneof
        target = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            key_field = field.message_type.fields_by_name["key"]
            for i in range(2):
                key = _scalar(key_field, i)
                if value_field.message_type is not None:
                    _fill(target[key], depth + 1, i)
                else:
                    target[key] = _scalar(value_field, i)
        elif field.is_repeated:
            for i in range(2):
                if field.message_type is not None:
                    _fill(target.add(), depth + 1, i)
                else:
                    target.append(_scalar(field, i))
        elif field.message_type is not None:
            _fill(target, depth + 1, n)
        else:
            setattr(message, field.name, _scalar(field, n))
    return message


def _types() -> list[Descriptor]:
    found: dict[str, Descriptor] = {}
    for route in build_route_table().routes:
        for descriptor in (route.method.output_type, route.method.input_type):
            found[descriptor.full_name] = descriptor
    return list(found.values())


def test_the_encoder_gives_json_formats_value_for_every_route_type() -> None:
    types = _types()
    assert len(types) > 50
    for descriptor in types:
        cls = message_factory.GetMessageClass(descriptor)
        for message in (cls(), _fill(cls(), 0), _fill(cls(), 0, 1)):
            expected = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
            found = jsonenc.to_json(message)
            assert found == expected, descriptor.full_name
            # The same bytes once encoded: the keys in json_format's order too.
            assert json.dumps(found) == json.dumps(expected), descriptor.full_name


def test_timestamps_render_as_json_format_does_once_kept_and_after_the_kept_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jsonenc, "TIMESTAMPS_KEPT", 3)
    stamps = [
        timestamp_pb2.Timestamp(seconds=1_790_000_000 + n, nanos=nanos)
        for n, nanos in enumerate((0, 5_000_000, 123_456_000, 7, 0))
    ]
    for _ in range(2):  # rendered, then (some) kept
        for stamp in stamps:
            assert jsonenc._timestamp(stamp) == stamp.ToJsonString()
    assert len(jsonenc._TIMESTAMPS) <= 3


def test_the_encoder_is_compiled_once_per_type() -> None:
    from shutter.post.v1 import post_pb2

    first = jsonenc.encoder_of(post_pb2.Post.DESCRIPTOR)
    assert jsonenc.encoder_of(post_pb2.Post.DESCRIPTOR) is first


def test_answers_are_the_bytes_json_dumps_gives() -> None:
    from bench.edge_cost import sample_replies
    from edge_proxy.transcode import encode_json

    values: list[Any] = [jsonenc.to_json(reply) for _, reply in sample_replies().values()]
    values.append(
        {"t": 'tëxt ☃ "q" \u2028 </script>\x01', "f": [1.5, -0.0, 1e300, 2**53], "n": None}
    )
    for value in values:
        expected = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        assert encode_json(value) == expected.encode("utf-8")


def test_answers_with_kept_posts_are_the_same_bytes_for_every_route_type() -> None:
    from edge_proxy.transcode import encode_json

    for descriptor in _types():
        cls = message_factory.GetMessageClass(descriptor)
        for message in (cls(), _fill(cls(), 0), _fill(cls(), 0, 1)):
            expected = encode_json(jsonenc.to_json(message))
            for _ in range(2):  # rendered, then from what was kept
                assert encode_json(jsonenc.render(message)) == expected, descriptor.full_name


def test_a_kept_post_that_changed_renders_as_it_is_now(monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_proxy.transcode import encode_json
    from shutter.feed.v1 import feed_service_pb2
    from shutter.post.v1 import post_pb2

    monkeypatch.setattr(jsonenc, "KEPT_MAX", 2)
    monkeypatch.setattr(jsonenc, "_KEPT", {})
    page = feed_service_pb2.GetHomeFeedResponse(
        posts=[post_pb2.Post(post_id=1, like_count=3), post_pb2.Post(post_id=2)]
    )
    assert json.loads(encode_json(jsonenc.render(page)))["posts"][0]["likeCount"] == "3"
    page.posts[0].like_count, page.posts[0].has_liked = 4, True
    found = json.loads(encode_json(jsonenc.render(page)))["posts"][0]
    assert (found["likeCount"], found["hasLiked"]) == ("4", True)
    # Bounded: three posts rendered, at most two kept.
    assert len(jsonenc._KEPT) <= 2
    assert encode_json(jsonenc.render(page)) == encode_json(jsonenc.to_json(page))
