"""The OpenAPI 3.0 document of the client API, generated from the same descriptors as the routes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from edge_proxy.routes import Route, RouteTable
from edge_proxy.transcode import QUERY_ALIASES

# The RPCs a client calls before it has a token. The services enforce auth themselves; this only
# documents it (google.api.http has no field for it). A new public RPC is added here.
PUBLIC_METHODS: frozenset[str] = frozenset(
    {
        "shutter.user.v1.UserService.Register",
        "shutter.user.v1.UserService.Login",
        "shutter.user.v1.UserService.RefreshToken",
    }
)

ERROR_SCHEMA = "google.rpc.Status"
ERROR_RESPONSE: dict[str, Any] = {
    "description": "An error; the HTTP status is mapped from the gRPC code.",
    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}},
}
_OPENAPI_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})

_INT32 = {"type": "integer", "format": "int32"}
_UINT32 = {"type": "integer", "format": "int64", "minimum": 0}
# proto3 JSON writes 64-bit integers as decimal strings, so JavaScript clients keep every digit.
_INT64 = {"type": "string", "format": "int64"}
_UINT64 = {"type": "string", "format": "uint64"}
_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_UINT32: _UINT32,
    FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
    FieldDescriptor.TYPE_UINT64: _UINT64,
    FieldDescriptor.TYPE_FIXED64: _UINT64,
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}
# Well-known types have their own JSON forms (protobuf's JSON mapping).
_STRING_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "example": "1.5s"},
    "google.protobuf.FieldMask": {"type": "string", "example": "fullName,bio"},
}
_ANY = {
    "type": "object",
    "properties": {"@type": {"type": "string"}},
    "required": ["@type"],
    "additionalProperties": True,
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    **_STRING_WELL_KNOWN,
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": _ANY,
}
_WRAPPERS = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
# Well-known types a query parameter can carry: their JSON is one string or scalar.
_QUERYABLE = frozenset(_STRING_WELL_KNOWN) | _WRAPPERS
_VARIABLE = re.compile(r"\{([^{}=]+)=[^{}]*\}")
_ERROR = {
    "type": "object",
    "description": "A gRPC status: the code number, a message and typed details (ErrorInfo "
    "with a stable reason, BadRequest field violations).",
    "properties": {
        "code": {"type": "integer", "format": "int32"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": _ANY},
    },
    "required": ["code", "message", "details"],
}


def build_openapi(
    table: RouteTable,
    *,
    extra_paths: Mapping[str, dict[str, Any]] | None = None,
    title: str = "Shutter API",
    version: str = "v1",
) -> dict[str, Any]:
    """Return the OpenAPI document of every route in the table, plus the hand-written routes'
    own descriptions (`extra_paths`)."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in table.routes:
        method = route.http_method.lower()
        if method not in _OPENAPI_METHODS:
            continue  # a custom HTTP method OpenAPI cannot describe
        # Templates that differ only in a variable's pattern share one OpenAPI path; the first wins.
        paths.setdefault(openapi_path(route), {}).setdefault(method, _operation(route, schemas))
    for path, operations in (extra_paths or {}).items():
        paths.setdefault(path, {}).update(operations)
    services = sorted({r.method.containing_service for r in table.routes}, key=lambda s: s.name)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": version,
            "description": "Generated from the google.api.http annotations of the Shutter "
            "protos. JSON is proto3 JSON: lowerCamelCase names (snake_case accepted on input), "
            "64-bit integers as strings, timestamps in RFC 3339.",
        },
        "tags": [{"name": s.name, "description": f"gRPC service {s.full_name}."} for s in services],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {**dict(sorted(schemas.components.items())), ERROR_SCHEMA: _ERROR},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearerAuth": []}],
    }


def openapi_path(route: Route) -> str:
    """Return a route's template as an OpenAPI path: `{name=shelves/*}` becomes `{name}`."""
    return _VARIABLE.sub(r"{\1}", route.template)


def _operation(route: Route, schemas: _Schemas) -> dict[str, Any]:
    method = route.method
    parameters: list[dict[str, Any]] = [
        {"name": b.name, "in": "path", "required": True, "schema": schemas.field(b.fields[-1])}
        for b in route.bindings
    ]
    if route.body != "*":
        parameters += _query_parameters(route, schemas)
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": method.name,
        "description": f"Calls {method.containing_service.full_name}/{method.name}.",
        "tags": [method.containing_service.name],
    }
    if parameters:
        operation["parameters"] = parameters
    if route.body:
        body = _json(_body_schema(route, schemas))
        operation["requestBody"] = {"required": True, "content": body}
    operation["responses"] = {
        "200": {"description": "OK", "content": _json(_response_schema(route, schemas))},
        "default": ERROR_RESPONSE,
    }
    if method.full_name in PUBLIC_METHODS:
        operation["security"] = []
    return operation


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _body_schema(route: Route, schemas: _Schemas) -> dict[str, Any]:
    request = route.method.input_type
    if route.body != "*":
        return schemas.field(request.fields_by_name[route.body])
    # Fields the path binds are not read from the body, so the body's schema leaves them out.
    bound = {b.fields[0].name for b in route.bindings if len(b.fields) == 1}
    if not bound:
        return schemas.ref(request)
    return schemas.message(request, without=bound)


def _response_schema(route: Route, schemas: _Schemas) -> dict[str, Any]:
    response = route.method.output_type
    if route.response_body:
        return schemas.field(response.fields_by_name[route.response_body])
    return schemas.ref(response)


def _query_parameters(route: Route, schemas: _Schemas) -> list[dict[str, Any]]:
    """Return the query parameters of a route: every field path and body leave, flattened."""
    request = route.method.input_type
    bound = {".".join(f.name for f in b.fields) for b in route.bindings}
    parameters: list[dict[str, Any]] = []

    def walk(message: Descriptor, proto_prefix: str, json_prefix: str, seen: set[str]) -> None:
        for field in message.fields:
            proto_path, name = proto_prefix + field.name, json_prefix + field.json_name
            if proto_path in bound or proto_path == route.body or _is_map(field):
                continue
            nested = field.message_type
            if nested is None or nested.full_name in _QUERYABLE:
                parameters.append({"name": name, "in": "query", "schema": schemas.field(field)})
            elif not field.is_repeated and nested.full_name not in {*_WELL_KNOWN, *seen}:
                walk(nested, proto_path + ".", name + ".", seen | {nested.full_name})

    walk(request, "", "", {request.full_name})
    names = {f.name for f in request.fields} | {f.json_name for f in request.fields}
    for alias, target in QUERY_ALIASES.items():
        field = request.fields_by_name.get(target)
        if field is not None and alias not in names and target not in bound:
            parameters.append(
                {
                    "name": alias,
                    "in": "query",
                    "description": f"The same as {field.json_name}.",
                    "schema": schemas.field(field),
                }
            )
    return parameters


def _is_map(field: FieldDescriptor) -> bool:
    nested = field.message_type
    return field.is_repeated and nested is not None and nested.GetOptions().map_entry


class _Schemas:
    """JSON schemas of messages and enums (proto3 JSON), collected as components."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}

    def ref(self, message: Descriptor) -> dict[str, Any]:
        """Return the schema of a message: its JSON form for well-known types, else a $ref."""
        name = message.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name in _WRAPPERS:
            return {**self.field(message.fields_by_name["value"]), "nullable": True}
        if name not in self.components:
            self.components[name] = {}  # claimed first: a message may contain itself
            self.components[name] = self.message(message)
        return {"$ref": f"#/components/schemas/{name}"}

    def message(self, message: Descriptor, *, without: set[str] | None = None) -> dict[str, Any]:
        """Return the object schema of a message, leaving out some fields."""
        properties = {
            f.json_name: self.field(f) for f in message.fields if f.name not in (without or ())
        }
        return {"type": "object", "properties": properties}

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        """Return the schema of one field's JSON value."""
        nested = field.message_type
        if _is_map(field) and nested is not None:
            return {"type": "object", "additionalProperties": self.field(nested.fields[1])}
        if nested is not None:
            single = self.ref(nested)
        elif field.enum_type is not None:
            single = self._enum(field.enum_type)
        else:
            single = dict(_SCALARS[field.type])
        return {"type": "array", "items": single} if field.is_repeated else single

    def _enum(self, enum: EnumDescriptor) -> dict[str, Any]:
        if enum.full_name not in self.components:
            names = [value.name for value in enum.values]
            self.components[enum.full_name] = {"type": "string", "enum": names}
        return {"$ref": f"#/components/schemas/{enum.full_name}"}
