"""HTTP/JSON to protobuf and back: build requests, render responses, map errors to HTTP.

A request message is filled from three places. The body goes in first (all of it for `body: "*"`,
or under one field), then path variables, which win over the body, then query parameters for the
fields neither of those binds (none when the body is `*`, as google.api.http specifies). Unknown
query parameters are ignored, as grpc-gateway does (cache busters, tracking tags); unknown body
fields are an error. Conversion is protobuf's own proto3 JSON mapping (json_format).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import grpc
import orjson
from google.protobuf import any_pb2, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge_proxy import jsonenc
from edge_proxy.routes import Match, Route
from mesh import context
from mesh.auth import SERVICE_HEADER
from mesh.status import status_from_metadata

log = logging.getLogger("shutter.edge")

# The ErrorInfo domain of the errors the edge itself answers.
EDGE_DOMAIN = "edge_proxy.shutter"

# gRPC code to HTTP status, as grpc-gateway maps them (runtime.HTTPStatusFromCode) but for
# CANCELLED: a client that went away reads no answer, so a CANCELLED the edge can answer comes
# from a service stopping mid-call, which a retry serves (503, not grpc-gateway's 499).
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 503,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

# Query names accepted for AIP-158 pagination fields when the request has no field of that name.
# Header values that can travel as gRPC metadata.
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
QUERY_ALIASES = {"limit": "page_size", "cursor": "page_token"}

# What a client is told when the failure is not a service's own answer (grpc's transport text
# names internal addresses, so it is logged, not returned).
_GENERIC_MESSAGES = {
    grpc.StatusCode.UNAVAILABLE: "the service is unavailable; try again later",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the service did not answer in time",
    grpc.StatusCode.CANCELLED: "the service stopped before answering; try again",
    grpc.StatusCode.UNKNOWN: "internal error",
    grpc.StatusCode.INTERNAL: "internal error",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "the request is too large or too frequent",
    grpc.StatusCode.INVALID_ARGUMENT: "the request is not valid",
    grpc.StatusCode.UNAUTHENTICATED: "the request is not authenticated",
    grpc.StatusCode.PERMISSION_DENIED: "the request is not allowed",
    grpc.StatusCode.NOT_FOUND: "not found",
    grpc.StatusCode.UNIMPLEMENTED: "the request is not supported",
}
# For any other code grpc makes up: never its own text (transport details) to a client.
_GENERIC_MESSAGE = "the request could not be completed"

_TYPE_NAMES = {
    getattr(FieldDescriptor, name): name.removeprefix("TYPE_").lower()
    for name in dir(FieldDescriptor)
    if name.startswith("TYPE_")
}
_BOOL_TEXT = {"true": True, "1": True, "false": False, "0": False}


class EdgeError(Exception):
    """A request the edge answers itself; carries the gRPC code, reason and HTTP status."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str,
        http_status: int | None = None,
        violations: Sequence[tuple[str, str]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.http_status = HTTP_STATUS.get(code, 500) if http_status is None else http_status
        self.violations = violations
        self.headers = headers or {}

    def status(self) -> status_pb2.Status:
        """Return this error as a google.rpc.Status with ErrorInfo (and BadRequest)."""
        details = [_pack(error_details_pb2.ErrorInfo(reason=self.reason, domain=EDGE_DOMAIN))]
        if self.violations:
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=name, description=text)
                    for name, text in self.violations
                ]
            )
            details.append(_pack(bad_request))
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=details)


def message_class(descriptor: Descriptor) -> type[Message]:
    """Return the generated class of a message type."""
    return message_factory.GetMessageClass(descriptor)


def build_request(match: Match, *, body: bytes, query: Sequence[tuple[str, str]]) -> Message:
    """Return the request message of a matched route, from its body, path and query."""
    route = match.route
    request = message_class(route.method.input_type)()
    if route.body:
        _merge_body(request, route.body, body)
    for binding, text in match.params:
        _set_from_text(request, binding.fields, [text], binding.name, "path parameter")
    if route.body != "*":
        _merge_query(request, route, query)
    return request


def render_response(route: Route, response: Message) -> Any:
    """Return the JSON value of a response, or of its `response_body` field, for encode_json
    (posts inside it as kept JSON bytes: jsonenc.render)."""
    if not route.response_body:
        return jsonenc.render(response)
    field = response.DESCRIPTOR.fields_by_name[route.response_body]
    if field.message_type is not None and not field.is_repeated:
        # An unset message field still renders as its defaults, as grpc-gateway does.
        return jsonenc.render(getattr(response, field.name))
    return jsonenc.render(response).get(field.json_name)


def encode_json(value: Any) -> bytes:
    """Return a JSON value's UTF-8 bytes, compact, as every answer of the edge is encoded (the
    bytes json.dumps gives with ensure_ascii=False and compact separators, several times
    faster: bench edge-cost)."""
    return orjson.dumps(value)


class JSONAnswer(JSONResponse):
    """A JSON answer encoded with encode_json."""

    def render(self, content: Any) -> bytes:
        return encode_json(content)


def to_json(message: Message) -> Any:
    """Return the proto3 JSON value of a message, fields without presence included (compiled
    per message type: edge_proxy/jsonenc.py)."""
    return jsonenc.to_json(message)


def error_json(status: status_pb2.Status) -> dict[str, Any]:
    """Return the client-facing body of an error: code, message and typed details."""
    details: list[Any] = []
    for packed in status.details:
        try:
            details.append(to_json(packed))
        except (TypeError, KeyError):
            # A detail type this process does not know: name it rather than drop the error.
            details.append({"@type": packed.type_url})
    return {"code": status.code, "message": status.message, "details": details}


# Reasons whose HTTP status is more precise than their gRPC code's.
REASON_HTTP_STATUS = {"MEDIA_TOO_LARGE": 413, "UPLOAD_TOO_LARGE": 413}


def rpc_error_response(exc: aio.AioRpcError) -> Response:
    """Return the HTTP answer of a failed call: mapped status, `{"code", "message", "details"}`."""
    status = rpc_error_status(exc)
    http_status = HTTP_STATUS.get(exc.code(), 500)
    headers: dict[str, str] = {}
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            http_status = REASON_HTTP_STATUS.get(info.reason, http_status)
            retry = info.metadata.get("retry_after_seconds", "")
            if retry.isdigit():
                headers["Retry-After"] = retry
    if http_status == 503 and "Retry-After" not in headers:
        headers.update(retry_headers(http_status) or {})
    return error_response(status, http_status, headers or None)


# Seconds a client should wait before retrying a 503: a restarting peer is back within about
# one second (channels redial every 100 ms to 1 s), and shed load drains as fast.
RETRY_AFTER_SECONDS = 1


def retry_headers(http_status: int) -> dict[str, str] | None:
    """Return the Retry-After header a retryable answer (503) carries."""
    return {"Retry-After": str(RETRY_AFTER_SECONDS)} if http_status == 503 else None


def rpc_error_status(exc: aio.AioRpcError) -> status_pb2.Status:
    """Return the status a failed call answered, with details, safe to show a client."""
    code = exc.code()
    rich = status_from_metadata(code, exc.details() or "", exc.trailing_metadata())
    rich.code = code.value[0]
    if not rich.details:
        # Not a service's own answer (those always carry an ErrorInfo): a transport failure or a
        # status grpc made up. Give it a stable reason and keep internal text out of the reply.
        log.warning("rpc failed: %s %s", code.name, exc.details())
        rich.message = _GENERIC_MESSAGES.get(code, _GENERIC_MESSAGE)
        info = error_details_pb2.ErrorInfo(reason=code.name, domain=EDGE_DOMAIN)
        rich.details.append(_pack(info))
    return rich


def _merge_body(request: Message, body_field: str, raw: bytes) -> None:
    if not raw.strip():
        return
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EdgeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"malformed JSON in the request body: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno} (char {exc.pos})",
            reason="MALFORMED_JSON",
        ) from None
    except (UnicodeDecodeError, RecursionError):
        raise EdgeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "malformed JSON in the request body: not UTF-8 text, or nested too deeply",
            reason="MALFORMED_JSON",
        ) from None
    if body_field == "*":
        if not isinstance(value, dict):
            raise EdgeError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the request body must be a JSON object, not {_json_kind(value)}",
                reason="INVALID_BODY",
            )
    else:
        value = {body_field: value}
    try:
        json_format.ParseDict(value, request)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        # json_format's first line names the field and what is wrong with it.
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EdgeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"invalid request body: {first_line}",
            reason="INVALID_BODY",
        ) from None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", list: "an array"}.get(type(value), "a number")


def _merge_query(request: Message, route: Route, query: Sequence[tuple[str, str]]) -> None:
    bound = {tuple(f.name for f in binding.fields) for binding in route.bindings}
    grouped: dict[tuple[str, ...], tuple[tuple[FieldDescriptor, ...], str, list[str]]] = {}
    for key, value in query:
        fields = _query_fields(route.method.input_type, key)
        if fields is None:
            continue
        names = tuple(f.name for f in fields)
        if names in bound or names[0] == route.body:
            continue
        grouped.setdefault(names, (fields, key, []))[2].append(value)
    for fields, key, values in grouped.values():
        if len(values) > 1 and not fields[-1].is_repeated:
            raise EdgeError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f'query parameter "{key}" takes one value, got {len(values)}',
                reason="INVALID_PARAMETER",
                violations=[(key, "takes one value")],
            )
        _set_from_text(request, fields, values, key, "query parameter")


def _query_fields(message: Descriptor, key: str) -> tuple[FieldDescriptor, ...] | None:
    """Resolve a query key (proto or JSON names, dotted for nested fields, or an alias)."""
    if key in QUERY_ALIASES and key not in _fields_by_any_name(message):
        target = message.fields_by_name.get(QUERY_ALIASES[key])
        return None if target is None else (target,)
    path: list[FieldDescriptor] = []
    current: Descriptor | None = message
    for part in key.split("."):
        found = _fields_by_any_name(current).get(part) if current is not None else None
        if found is None or (path and path[-1].is_repeated):
            return None
        path.append(found)
        current = found.message_type
    return tuple(path)


@functools.cache
def _fields_by_any_name(message: Descriptor) -> dict[str, FieldDescriptor]:
    by_name = {f.json_name: f for f in message.fields}
    by_name.update(message.fields_by_name)
    return by_name


def _set_from_text(
    request: Message,
    fields: Sequence[FieldDescriptor],
    texts: list[str],
    name: str,
    where: str,
) -> None:
    """Set a (nested) field from URL text, through json_format so types convert as in JSON."""
    leaf = fields[-1]
    values = [_json_value_of_text(leaf, text) for text in texts]
    value: Any = values if leaf.is_repeated else values[-1]
    for field in reversed(fields):
        value = {field.name: value}
    try:
        json_format.ParseDict(value, request)
    except (json_format.ParseError, ValueError, TypeError):
        expected = _expected(leaf)
        got = ", ".join(f'"{text}"' for text in texts)
        raise EdgeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f'{where} "{name}" must be {expected}, got {got}',
            reason="INVALID_PARAMETER",
            violations=[(name, f"must be {expected}")],
        ) from None


def _json_value_of_text(field: FieldDescriptor, text: str) -> Any:
    # URL text is always a string; only booleans need a JSON literal for json_format to take them.
    is_bool = field.type == FieldDescriptor.TYPE_BOOL or (
        field.message_type is not None
        and field.message_type.full_name == "google.protobuf.BoolValue"
    )
    return _BOOL_TEXT.get(text.lower(), text) if is_bool else text


def _expected(field: FieldDescriptor) -> str:
    if field.enum_type is not None:
        return "one of " + ", ".join(v.name for v in field.enum_type.values)
    if field.message_type is not None:
        return f"a {field.message_type.full_name} in its JSON form"
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true or false"
    return f"a valid {_TYPE_NAMES.get(field.type, 'value')}"


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def error_response(
    status: status_pb2.Status, http_status: int, headers: dict[str, str] | None = None
) -> Response:
    """Return the HTTP response of an error: `{"code", "message", "details"}`."""
    return JSONResponse(error_json(status), status_code=http_status, headers=headers)


def rpc_metadata(
    request: Request,
    *,
    max_authorization_bytes: int = 4096,
    client_ip: str = "",
    service_identity: str = "",
) -> list[tuple[str, str]]:
    """Return the metadata of the RPC behind a request: request id and the client's token."""
    authorization = request.headers.get("authorization", "")
    if len(authorization) > max_authorization_bytes or not _PRINTABLE.fullmatch(authorization):
        raise EdgeError(
            grpc.StatusCode.UNAUTHENTICATED,
            "the Authorization header must be 'Bearer <token>'",
            reason="TOKEN_INVALID",
        )
    # Sent even when empty: an explicit value stops the channel from adding a token of its own,
    # so an anonymous client is never mistaken for anyone else.
    metadata = [("x-request-id", context.request_id.get()), ("authorization", authorization)]
    if service_identity:
        # The edge's own identity, beside the client's token: the mesh's internal methods the
        # edge calls for clients (upload bytes, media files, the notification stream) need it.
        metadata.append((SERVICE_HEADER, service_identity))
    if client_ip and _PRINTABLE.fullmatch(client_ip):
        # For user_svc's sign-in throttle: the address the request came from.
        metadata.append(("x-client-ip", client_ip))
    return metadata
