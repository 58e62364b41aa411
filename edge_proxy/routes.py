"""The HTTP route table: the mesh's google.api.http rules, compiled into a path trie.

Templates follow google/api/http.proto: `/a/{field}`, `/a/{field=b/*}`, `/a/{post.id}`, bare `*`
and a trailing `**`, and a `:verb` suffix. Lookup walks the trie trying literal segments before
`*` before `**`, so `/users/by-username/{username}` wins over `/users/{user_id}`, and a path that
matches routes of other HTTP methods only is a 405 rather than a 404.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from mesh.services import MESH, ServiceSpec

_STAR = "*"
_DOUBLE_STAR = "**"
# One template segment: a whole `{variable}` (which may span several URL segments) or the text
# between two slashes.
_TOKEN = re.compile(r"\{[^{}]*\}|[^/{}]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Binding:
    """A path variable: the request field it fills and the URL segments it spans."""

    # As written in the template: "user_id", "post.id".
    name: str
    fields: tuple[FieldDescriptor, ...]
    start: int
    # None when the variable ends in `**` and so takes the rest of the path.
    end: int | None


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one RPC."""

    http_method: str
    template: str
    # One entry per URL segment: a literal, "*" or "**".
    segments: tuple[str, ...]
    verb: str
    bindings: tuple[Binding, ...]
    method: MethodDescriptor
    # The mesh service that serves it, such as "user_svc".
    service: str
    # "" (no body), "*" (the whole request) or the name of one top-level request field.
    body: str
    # "" (the whole response) or the name of one top-level response field.
    response_body: str
    # "FeedService_GetUser"; additional bindings add their position: "FeedService_GetUser2".
    operation_id: str

    @property
    def grpc_path(self) -> str:
        """Return the gRPC method path, such as "/shutter.user.v1.UserService/GetUser"."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"


@dataclass(frozen=True)
class Match:
    """A route found for a request, with the text of each path variable (percent-decoded)."""

    route: Route
    params: tuple[tuple[Binding, str], ...]


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    star: _Node | None = None
    # Routes ending here, by verb then HTTP method; `rest` holds those ending in `**`.
    ends: dict[str, dict[str, Route]] = field(default_factory=dict)
    rest: dict[str, dict[str, Route]] = field(default_factory=dict)


class RouteTable:
    """Every route of the mesh, ready for lookup by HTTP method and path."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        self._root = _Node()
        for route in self.routes:
            self._add(route)

    def _add(self, route: Route) -> None:
        node = self._root
        leaves = node.ends
        for segment in route.segments:
            if segment == _DOUBLE_STAR:
                leaves = node.rest
                break
            if segment == _STAR:
                node.star = node.star or _Node()
                node = node.star
            else:
                node = node.literals.setdefault(segment, _Node())
            leaves = node.ends
        by_method = leaves.setdefault(route.verb, {})
        clash = by_method.get(route.http_method)
        if clash is not None:
            raise ValueError(
                f"{route.http_method} {route.template} ({route.method.full_name}) clashes with "
                f"{clash.template} ({clash.method.full_name})"
            )
        by_method[route.http_method] = route

    def match(self, http_method: str, path: str) -> Match | None:
        """Return the route for a request, preferring literal segments over variables."""
        for segments, by_method in self._candidates(path):
            route = by_method.get(http_method)
            if route is not None:
                params = tuple((b, "/".join(segments[b.start : b.end])) for b in route.bindings)
                return Match(route, params)
        return None

    def allowed_methods(self, path: str) -> list[str]:
        """Return the HTTP methods of every route whose template matches a path."""
        methods = {m for _, by_method in self._candidates(path) for m in by_method}
        return sorted(methods)

    def _candidates(self, path: str) -> Iterator[tuple[list[str], dict[str, Route]]]:
        if not path.startswith("/"):
            return
        raw = path[1:].split("/")
        last = raw[-1]
        # The verb is split off before decoding, so an escaped colon (%3A) is never a verb.
        if ":" in last:
            base, _, verb = last.rpartition(":")
            segments = [unquote(s) for s in [*raw[:-1], base]]
            for by_method in self._walk(self._root, segments, 0, unquote(verb)):
                yield segments, by_method
        segments = [unquote(s) for s in raw]
        for by_method in self._walk(self._root, segments, 0, ""):
            yield segments, by_method

    def _walk(
        self, node: _Node, segments: Sequence[str], i: int, verb: str
    ) -> Iterator[dict[str, Route]]:
        if i == len(segments):
            if verb in node.ends:
                yield node.ends[verb]
        else:
            child = node.literals.get(segments[i])
            if child is not None:
                yield from self._walk(child, segments, i + 1, verb)
            if node.star is not None and segments[i]:
                yield from self._walk(node.star, segments, i + 1, verb)
        if verb in node.rest:
            yield node.rest[verb]


def build_route_table(specs: Sequence[ServiceSpec] = MESH) -> RouteTable:
    """Return the routes of every annotated unary RPC of the given services (default: the mesh).

    Streaming RPCs are left out: they need SSE or uploads, not request/response JSON.
    """
    pool = descriptor_pool.Default()
    routes: list[Route] = []
    for spec in specs:
        importlib.import_module(spec.proto_module)
        for service_name in spec.grpc_services:
            for method in pool.FindServiceByName(service_name).methods:
                if method.client_streaming or method.server_streaming:
                    continue
                options = method.GetOptions()
                if not options.HasExtension(annotations_pb2.http):
                    continue
                rule = options.Extensions[annotations_pb2.http]
                for index, binding in enumerate([rule, *rule.additional_bindings]):
                    suffix = str(index + 1) if index else ""
                    routes.append(make_route(spec.name, method, binding, suffix=suffix))
    return RouteTable(routes)


def make_route(
    service: str, method: MethodDescriptor, rule: http_pb2.HttpRule, *, suffix: str = ""
) -> Route:
    """Return the route of one HttpRule (its additional bindings are not followed)."""
    kind = rule.WhichOneof("pattern")
    if kind is None:
        raise ValueError(f"{method.full_name}: google.api.http has no path")
    if kind == "custom":
        http_method, template = rule.custom.kind.upper(), rule.custom.path
    else:
        http_method, template = kind.upper(), getattr(rule, kind)
    where = f"{method.full_name} ({http_method} {template})"
    segments, verb, variables = _parse_template(template, where)
    bindings = tuple(
        Binding(name, _field_path(method.input_type, name, where), start, end)
        for name, start, end in variables
    )
    if rule.body not in ("", "*"):
        _top_level_field(method.input_type, rule.body, where)
    if rule.response_body:
        _top_level_field(method.output_type, rule.response_body, where)
    return Route(
        http_method=http_method,
        template=template,
        segments=segments,
        verb=verb,
        bindings=bindings,
        method=method,
        service=service,
        body=rule.body,
        response_body=rule.response_body,
        operation_id=f"{method.containing_service.name}_{method.name}{suffix}",
    )


def _parse_template(
    template: str, where: str
) -> tuple[tuple[str, ...], str, list[tuple[str, int, int | None]]]:
    """Split a template into URL segments, its verb and its variables (name, start, end)."""
    if not template.startswith("/"):
        raise ValueError(f"{where}: a path template starts with '/'")
    path, verb = template[1:], ""
    # A verb can only follow the last segment, and never sits inside a variable.
    if ":" in path[max(path.rfind("}"), path.rfind("/")) + 1 :]:
        path, _, verb = path.rpartition(":")
    tokens = _TOKEN.findall(path)
    if "/".join(tokens) != path:
        raise ValueError(f"{where}: malformed path template")
    segments: list[str] = []
    variables: list[tuple[str, int, int | None]] = []
    for token in tokens:
        if token.startswith("{"):
            name, _, pattern = token[1:-1].partition("=")
            start = len(segments)
            segments.extend((pattern or _STAR).split("/"))
            end = None if segments[-1] == _DOUBLE_STAR else len(segments)
            variables.append((name, start, end))
        else:
            segments.append(token)
    if any(s == "" for s in segments) or _DOUBLE_STAR in segments[:-1]:
        raise ValueError(f"{where}: empty segment, or '**' before the end")
    return tuple(segments), verb, variables


def _field_path(message: Descriptor, name: str, where: str) -> tuple[FieldDescriptor, ...]:
    """Resolve a dotted path variable to request fields; it must end in one scalar or enum."""
    path: list[FieldDescriptor] = []
    current: Descriptor | None = message
    for part in name.split("."):
        found = current.fields_by_name.get(part) if current is not None else None
        if found is None or not _IDENT.fullmatch(part) or found.is_repeated:
            raise ValueError(f"{where}: path variable {name!r} is not a singular request field")
        path.append(found)
        current = found.message_type
    if current is not None:
        raise ValueError(f"{where}: path variable {name!r} must be a scalar or enum field")
    return tuple(path)


def _top_level_field(message: Descriptor, name: str, where: str) -> FieldDescriptor:
    found = message.fields_by_name.get(name)
    if found is None:
        raise ValueError(f"{where}: {message.full_name} has no field {name!r}")
    return found
