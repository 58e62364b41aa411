"""Proto3 JSON of the edge's answers, the same value `json_format.MessageToDict` gives (with
fields without presence printed), from a plan compiled once per message type.

Why: `MessageToDict` decides every field's treatment on every call (map? repeated? which type?
enum option? wrapper?) in Python; on a grid page of 12 posts that was half of the edge's CPU per
request (bench/edge_cost.py). The plan makes those decisions once per message type; a value then
costs a dict lookup and, for most fields, nothing more. Well-known types, wrappers, extensions
and messages with 32-bit float fields (whose shortest-float rule is json_format's own) are left
to `json_format`, so every answer stays what it was (tests/edge_proxy/test_jsonenc.py compares
the two on every response type of the route table).

`render` is what the edge answers with: the same value, except that a post inside an answer
(a feed, grid, hashtag or explore page) comes as its JSON bytes kept from an earlier answer
when the post is the same to the byte (its serialized form: counts and the viewer's flags
included), which orjson writes as they are. The same posts are read again and again, and
encoding a page of 20 was a fifth of the edge's CPU for a feed read (bench/README.md).
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_F = FieldDescriptor
Encoder = Callable[[Any], Any]

_SINGLE, _REPEATED, _MAP = 0, 1, 2
# Messages json_format renders specially (Timestamp as a string, Struct as an object, ...).
_SPECIAL = frozenset(
    {
        "google.protobuf.Any",
        "google.protobuf.Duration",
        "google.protobuf.FieldMask",
        "google.protobuf.ListValue",
        "google.protobuf.Struct",
        "google.protobuf.Timestamp",
        "google.protobuf.Value",
        "google.protobuf.BoolValue",
        "google.protobuf.BytesValue",
        "google.protobuf.DoubleValue",
        "google.protobuf.FloatValue",
        "google.protobuf.Int32Value",
        "google.protobuf.Int64Value",
        "google.protobuf.StringValue",
        "google.protobuf.UInt32Value",
        "google.protobuf.UInt64Value",
    }
)


def to_json(message: Message) -> Any:
    """Return the proto3 JSON value of a message, fields without presence included."""
    return encoder_of(message.DESCRIPTOR)(message)


def render(message: Message) -> Any:
    """Return the proto3 JSON value of a message as to_json does, with the messages of
    KEPT_TYPES inside it as their kept JSON bytes (orjson.Fragment; orjson writes them as they
    are), for the edge to encode."""
    return encoder_of(message.DESCRIPTOR, kept=True)(message)


# Messages whose JSON render keeps, by their serialized bytes: posts, which pages repeat.
KEPT_TYPES = frozenset({"shutter.post.v1.Post"})
# Kept at most (about 3 kB each, bytes and JSON): past it the store starts again.
KEPT_MAX = 2_048
_KEPT: dict[bytes, orjson.Fragment] = {}


def _kept_encoder(descriptor: Descriptor) -> Encoder:
    encode = encoder_of(descriptor)

    def render_kept(message: Any) -> orjson.Fragment:
        key = message.SerializeToString(deterministic=True)
        found = _KEPT.get(key)
        if found is None:
            if len(_KEPT) >= KEPT_MAX:
                _KEPT.clear()
            found = _KEPT[key] = orjson.Fragment(orjson.dumps(encode(message)))
        return found

    return render_kept


def _reference(message: Message) -> Any:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


# Timestamps rendered lately: a page's posts are read again and again, and json_format's
# rendering (a datetime built and formatted) costs more than the rest of a post's fields.
_TIMESTAMPS: dict[tuple[int, int], str] = {}
TIMESTAMPS_KEPT = 50_000


def _timestamp(message: Any) -> str:
    key = (message.seconds, message.nanos)
    found = _TIMESTAMPS.get(key)
    if found is None:
        if len(_TIMESTAMPS) >= TIMESTAMPS_KEPT:
            _TIMESTAMPS.clear()
        found = _TIMESTAMPS[key] = str(message.ToJsonString())
    return found


def _int64(value: int) -> str:
    return str(value)


def _same(value: Any) -> Any:
    return value


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("utf-8")


def _double(value: float) -> Any:
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    if math.isnan(value):
        return "NaN"
    return value


def _enum(field: FieldDescriptor) -> Encoder:
    enum = field.enum_type
    assert enum is not None
    if enum.full_name == "google.protobuf.NullValue":
        return lambda _value: None
    # The names json_format gives (a json_name option on a value included).
    names = {number: _reference_field(field, number) for number in enum.values_by_number}
    closed = enum.is_closed

    def encode(value: int) -> Any:
        found = names.get(value)
        if found is not None:
            return found
        if closed:
            return _reference_field(field, value)  # raises as json_format does
        return value

    return encode


def _reference_field(field: FieldDescriptor, value: Any) -> Any:
    """Return json_format's rendering of one value of a field (used while compiling)."""
    holder = field.containing_type
    assert holder is not None
    message = message_factory.GetMessageClass(holder)()
    if field.is_repeated:
        getattr(message, field.name).append(value)
        return _reference(message)[field.json_name][0]
    setattr(message, field.name, value)
    return _reference(message).get(field.json_name)


def _value_encoder(field: FieldDescriptor) -> Encoder | None:
    """Return a field's value encoder; None for a message field other than a Timestamp, whose
    encoder the plan looks up at its first use (a type may hold itself)."""
    kind = field.cpp_type
    if kind == _F.CPPTYPE_MESSAGE:
        nested = field.message_type
        assert nested is not None
        if nested.full_name == "google.protobuf.Timestamp":
            return _timestamp
        return None
    if kind == _F.CPPTYPE_ENUM:
        return _enum(field)
    if kind == _F.CPPTYPE_STRING:
        return _bytes if field.type == _F.TYPE_BYTES else _same
    if kind in (_F.CPPTYPE_INT64, _F.CPPTYPE_UINT64):
        return _int64
    if kind == _F.CPPTYPE_DOUBLE:
        return _double
    return _same  # bool, int32, uint32


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _resolved_later(
    plan: dict[FieldDescriptor, tuple[str, int, Encoder]],
    field: FieldDescriptor,
    kind: int,
    nested: Descriptor,
    kept: bool,
) -> Encoder:
    """Return an encoder of a message field's values that, at its first use, puts the message
    type's own encoder in the plan: one call a value after that, not two."""

    def resolve(value: Any) -> Any:
        if kept and nested.full_name in KEPT_TYPES:
            convert = _kept_encoder(nested)
        else:
            convert = encoder_of(nested, kept=kept)
        plan[field] = (field.json_name, kind, convert)
        return convert(value)

    return resolve


@functools.cache
def encoder_of(descriptor: Descriptor, *, kept: bool = False) -> Encoder:
    """Return the compiled encoder of a message type (json_format's for the special ones);
    `kept`: with the messages of KEPT_TYPES inside it as kept JSON bytes (render)."""
    if descriptor.full_name in _SPECIAL or any(
        f.cpp_type == _F.CPPTYPE_FLOAT for f in descriptor.fields
    ):
        return _reference
    plan: dict[FieldDescriptor, tuple[str, int, Encoder]] = {}
    defaults: list[tuple[str, int, Any]] = []
    for field in descriptor.fields:
        nested = field.message_type
        entry = nested is not None and nested.GetOptions().map_entry
        if nested is not None and entry:
            value_field = nested.fields_by_name["value"]
            kind, convert = _MAP, _value_encoder(value_field)
            nested = value_field.message_type
        else:
            kind = _REPEATED if field.is_repeated else _SINGLE
            convert = _value_encoder(field)
        if convert is None:
            assert nested is not None
            convert = _resolved_later(plan, field, kind, nested, kept)
        plan[field] = (field.json_name, kind, convert)
        if not field.has_presence:
            kind = _MAP if entry else _REPEATED if field.is_repeated else _SINGLE
            default = None if kind != _SINGLE else plan[field][2](field.default_value)
            defaults.append((field.json_name, kind, default))

    def encode(message: Any) -> Any:
        js: dict[str, Any] = {}
        for field, value in message.ListFields():
            found = plan.get(field)
            if found is None:  # an extension: json_format names it
                return _reference(message)
            name, kind, convert = found
            if kind == _SINGLE:
                # Strings, bools and 32-bit integers are their own JSON: no call for them.
                js[name] = value if convert is _same else convert(value)
            elif kind == _REPEATED:
                js[name] = list(value) if convert is _same else [convert(v) for v in value]
            else:
                js[name] = {_map_key(k): convert(value[k]) for k in value}
        for name, kind, default in defaults:
            if kind == _SINGLE:
                js.setdefault(name, default)
            elif name not in js:
                js[name] = [] if kind == _REPEATED else {}
        return js

    return encode
