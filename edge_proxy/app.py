"""The edge's HTTP app: transcoded API routes, health, readiness and the OpenAPI document."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

import grpc
from google.protobuf.message import Message
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage
from starlette.websockets import WebSocketClose

from edge_proxy import limits as rate_limits
from edge_proxy import media as media_routes
from edge_proxy import messages as message_routes
from edge_proxy import notifications as notification_routes
from edge_proxy.admission import AdmissionMiddleware
from edge_proxy.media import MediaRoutes
from edge_proxy.messages import MessageStreamRoute
from edge_proxy.notifications import NotificationStreamRoute
from edge_proxy.openapi import build_openapi
from edge_proxy.routes import Match, Route, RouteTable, build_route_table
from edge_proxy.settings import EdgeSettings
from edge_proxy.static import WebClient
from edge_proxy.transcode import (
    EdgeError,
    JSONAnswer,
    build_request,
    error_response,
    message_class,
    render_response,
    retry_headers,
    rpc_error_response,
    rpc_metadata,
)
from mesh import context, telemetry
from mesh.auth import EDGE_SERVICE, identity_source
from mesh.clients import Channels
from mesh.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from mesh.redis import create_redis
from mesh.services import MESH, ServiceSpec

log = logging.getLogger("shutter.edge")
Handler = Callable[[Request], Awaitable[Response]]

# gRPC metadata values must be printable ASCII; anything else gets a fresh id.
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")
# Readiness must answer quickly even when a service hangs.
_HEALTH_TIMEOUT_SECONDS = 2.0


def create_app(
    settings: EdgeSettings,
    channels: Channels,
    *,
    services: Sequence[ServiceSpec] = MESH,
) -> Starlette:
    """Return the edge's ASGI app, routing every annotated RPC of `services` (default: the mesh).

    `channels` belongs to the caller, who closes it. Give it no service identity: a client's
    missing token must stay missing.
    """
    table = build_route_table(services)
    closers: list[Callable[[], Awaitable[None]]] = []
    limiter: Limiter
    if settings.redis_url and settings.rate_limits_enabled:
        redis = create_redis(settings)
        closers.append(redis.aclose)
        limiter = RedisLimiter(redis)
    else:
        limiter = MemoryLimiter()
    edge = _Edge(settings, channels, table, services, rate_limits.EdgeLimits(settings, limiter))
    web = WebClient()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for close in closers:
                await close()

    app = Starlette(
        lifespan=lifespan,
        routes=[
            StarletteRoute("/healthz", edge.healthz, methods=["GET"]),
            StarletteRoute("/readyz", edge.readyz, methods=["GET"]),
            StarletteRoute("/openapi.json", edge.openapi, methods=["GET"]),
            # The web client: its index and its versioned, immutable assets (edge_proxy/static.py).
            StarletteRoute("/", web.index, methods=["GET"]),
            Mount("/assets/{version}", app=web.assets),
            # No /metrics here: metrics (RPC counts, login failures, memory) are for operators,
            # served on SHUTTER_METRICS_PORT, never on the public port.
        ],
        # Tracing is outermost: a request's span covers everything the edge does for it.
        middleware=[
            *([Middleware(OpenTelemetryMiddleware)] if telemetry.tracing() else []),
            Middleware(SecurityHeadersMiddleware),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.edge_cors_origins,
                allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-Request-Id", "Last-Event-ID"],
                expose_headers=_EXPOSED_HEADERS,
                max_age=settings.edge_cors_max_age_seconds,
            ),
            Middleware(RequestIdMiddleware),
            Middleware(AdmissionMiddleware, settings=settings),
        ],
        exception_handlers={HTTPException: _http_exception},
    )
    # Everything that is not one of the edge's own routes is looked up in the route table.
    app.router.default = edge
    app.state.settings = settings
    # Called by the server as it shuts down (edge_proxy.serve): live streams end at once.
    app.state.close_streams = edge.close_streams
    return app


# Response headers a browser script may read on a cross-origin answer.
_EXPOSED_HEADERS = [
    "X-Request-Id",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "ETag",
    "Content-Range",
    "Accept-Ranges",
]
# Sent on every answer, /media included: browsers must not guess a type other than the declared
# one (an uploaded file sniffed as HTML), nor leak the API's URLs to other sites.
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class SecurityHeadersMiddleware:
    """Add the security headers every answer of the edge carries."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: AsgiMessage) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestIdMiddleware:
    """Give each request an id (the client's X-Request-Id or a new one) and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

        async def send_with_id(message: AsgiMessage) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-Id"] = rid
            await send(message)

        token = context.request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            context.request_id.reset(token)


class _Edge:
    """The transcoding endpoint and the edge's own routes."""

    def __init__(
        self,
        settings: EdgeSettings,
        channels: Channels,
        table: RouteTable,
        services: Sequence[ServiceSpec],
        limits: rate_limits.EdgeLimits,
    ) -> None:
        self._settings = settings
        self._limits = limits
        self._channels = channels
        self._table = table
        self._services = services
        self._callables: dict[str, aio.UnaryUnaryMultiCallable[Any, Any]] = {}
        extra = {
            **media_routes.OPENAPI_PATHS,
            **notification_routes.OPENAPI_PATHS,
            **message_routes.OPENAPI_PATHS,
        }
        self._openapi = json.dumps(build_openapi(table, extra_paths=extra)).encode()
        identity = identity_source(settings, EDGE_SERVICE)
        media = MediaRoutes(settings, channels, identity=identity)
        notifications = NotificationStreamRoute(settings, channels, identity=identity)
        messages = MessageStreamRoute(settings, channels, identity=identity)

        def close_streams() -> None:
            notifications.close()
            messages.close()

        self.close_streams = close_streams
        # Routes that stream bytes rather than JSON; everything else comes from the annotations.
        self._streaming: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
            (re.compile(r"/api/v1/uploads/(?P<upload_id>[^/]+)"), {"PUT": media.put_upload}),
            (
                re.compile(r"/media/(?P<key>.+)"),
                {"GET": media.get_media, "HEAD": media.get_media},
            ),
            # Server-Sent Events over notify_svc's server-streaming Subscribe.
            (re.compile(r"/api/v1/notifications/stream"), {"GET": notifications.stream}),
            # Server-Sent Events over message_svc's server-streaming Subscribe.
            (re.compile(re.escape(message_routes.PATH)), {"GET": messages.stream}),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await WebSocketClose()(scope, receive, send)
            return
        streaming = self._streaming_route(scope)
        request = Request(scope, receive)
        limit_headers: dict[str, str] = {}
        try:
            if streaming is not None:
                kind = self._streaming_class(scope)
                if kind is not None and self._limits.enabled:
                    limit_headers = await self._limits.check(request, kind)
                response = await streaming(request)
            else:
                match = self._table.match(request.method, _raw_path(request.scope))
                if match is not None and self._limits.enabled:
                    kind = rate_limits.route_class(match.route.grpc_path, request.method)
                    limit_headers = await self._limits.check(request, kind)
                response = await self._transcode(request, match)
            response.headers.update(limit_headers)
        except EdgeError as exc:
            headers = {**(retry_headers(exc.http_status) or {}), **exc.headers}
            response = error_response(exc.status(), exc.http_status, headers)
        except ClientDisconnect:
            return
        except Exception:
            log.exception("edge failure on %s %s", request.method, request.url.path)
            failure = EdgeError(grpc.StatusCode.INTERNAL, "internal error", reason="INTERNAL")
            response = error_response(failure.status(), 500)
        await response(scope, receive, send)

    def _streaming_route(self, scope: Scope) -> Handler | None:
        """Return the handler of a byte-streaming route (upload PUT, /media) the scope asks for."""
        for pattern, handlers in self._streaming:
            found = pattern.fullmatch(str(scope["path"]))
            if found is None:
                continue
            handler = handlers.get(str(scope["method"]))
            if handler is None:
                # Another method on this path may still be a transcoded route (GET an upload).
                continue
            scope["path_params"] = found.groupdict()
            return handler
        return None

    @staticmethod
    def _streaming_class(scope: Scope) -> str | None:
        """Return the rate-limit class of a streaming route."""
        if scope["method"] == "PUT":
            return "uploads"
        return "media" if str(scope["path"]).startswith("/media/") else "reads"

    async def _transcode(self, request: Request, match: Match | None) -> Response:
        path = _raw_path(request.scope)
        if match is None:
            allowed = self._table.allowed_methods(path)
            if allowed:
                raise EdgeError(
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"{request.method} is not allowed on {request.url.path}",
                    reason="METHOD_NOT_ALLOWED",
                    http_status=405,
                    headers={"Allow": ", ".join(allowed)},
                )
            raise EdgeError(
                grpc.StatusCode.NOT_FOUND,
                f"no route for {request.method} {request.url.path}",
                reason="ROUTE_NOT_FOUND",
            )
        route = match.route
        body = await self._read_body(request) if route.body else b""
        message = build_request(match, body=body, query=request.query_params.multi_items())
        try:
            reply = await self._callable(route)(
                message,
                timeout=(
                    self._settings.edge_read_timeout_seconds
                    if request.method == "GET"
                    else self._settings.edge_rpc_timeout_seconds
                ),
                metadata=rpc_metadata(
                    request,
                    max_authorization_bytes=self._settings.edge_max_authorization_bytes,
                    client_ip=self._limits.client_ip(request),
                ),
            )
        except aio.AioRpcError as exc:
            return rpc_error_response(exc)
        return JSONAnswer(render_response(route, reply))

    async def _read_body(self, request: Request) -> bytes:
        """Return the body, refusing one over the limit without ever holding more of it."""
        limit = self._settings.edge_max_body_bytes
        too_large = EdgeError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"the request body is larger than {limit} bytes",
            reason="BODY_TOO_LARGE",
            http_status=413,
        )
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise EdgeError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "Content-Length is not a number",
                    reason="INVALID_CONTENT_LENGTH",
                )
            if int(declared) > limit:
                raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _callable(self, route: Route) -> aio.UnaryUnaryMultiCallable[Any, Any]:
        found = self._callables.get(route.grpc_path)
        if found is None:
            found = self._channels.channel(route.service).unary_unary(
                route.grpc_path,
                request_serializer=_serialize,
                response_deserializer=message_class(route.method.output_type).FromString,
            )
            self._callables[route.grpc_path] = found
        return found

    async def healthz(self, request: Request) -> Response:
        """Answer that the edge itself is up."""
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Answer 200 when every service reports SERVING, else 503 naming each one's state."""
        states = await asyncio.gather(*(self._health(spec) for spec in self._services))
        services = {spec.name: state for spec, state in zip(self._services, states, strict=True)}
        ready = all(state == "SERVING" for state in states)
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "services": services},
            status_code=200 if ready else 503,
        )

    async def _health(self, spec: ServiceSpec) -> str:
        stub = health_pb2_grpc.HealthStub(self._channels.channel(spec.name))
        timeout = min(self._settings.edge_rpc_timeout_seconds, _HEALTH_TIMEOUT_SECONDS)
        for name in spec.grpc_services:
            try:
                check = health_pb2.HealthCheckRequest(service=name)
                reply = await stub.Check(check, timeout=timeout)
            except aio.AioRpcError as exc:
                return str(exc.code().name)
            if reply.status != health_pb2.HealthCheckResponse.SERVING:
                return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
        return "SERVING"

    async def openapi(self, request: Request) -> Response:
        """Answer the OpenAPI document of the client API."""
        return Response(self._openapi, media_type="application/json")


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _raw_path(scope: Scope) -> str:
    """Return the path as sent, still percent-encoded, so %2F in a variable is not a slash."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):
        return raw.split(b"?", 1)[0].decode("latin-1")
    return quote(str(scope["path"]))


async def _http_exception(_: Request, exc: Exception) -> Response:
    """Answer Starlette's own 404 and 405 (on the edge's own routes) in the error shape."""
    assert isinstance(exc, HTTPException)
    code = {404: grpc.StatusCode.NOT_FOUND, 405: grpc.StatusCode.UNIMPLEMENTED}.get(
        exc.status_code, grpc.StatusCode.UNKNOWN
    )
    reason = {404: "ROUTE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    error = EdgeError(code, exc.detail, reason=reason, http_status=exc.status_code)
    return error_response(error.status(), exc.status_code, dict(exc.headers or {}))
