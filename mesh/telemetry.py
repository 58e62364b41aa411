"""Tracing and logging: OpenTelemetry spans for every request, RPC, statement, Redis and S3 call."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grpc import aio
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import context
from mesh.config import MeshSettings

_configured = False
# False once configure() found nothing to send spans to: then no span is opened anywhere (no
# server or client interceptor, no statement or Redis wrapper). Processes that never call
# configure() (the test suite, which installs its own tracer provider) keep every instrument.
_tracing = True
_db_tracer = trace.get_tracer("shutter.db")
_libraries_instrumented = False


class JsonLinesSpanExporter(SpanExporter):
    """Append finished spans to a file, one JSON object per line."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock, self._path.open("a") as out:
            for span in spans:
                out.write(span.to_json(indent=None) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": context.request_id.get(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
        for key in ("rpc_method", "rpc_status", "caller"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure(settings: MeshSettings, *, process_name: str) -> None:
    """Set up logging, the tracer provider and its exporters, once per process."""
    global _configured, _tracing
    if _configured:
        return
    _configured = True
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Alembic's INFO lines (plugins set up, the DDL mode, each step) on every start say nothing
    # an operator acts on; they come back with SHUTTER_LOG_LEVEL=DEBUG.
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    logging.getLogger("alembic").setLevel(quiet)
    if not (
        settings.otlp_endpoint or settings.trace_file or settings.trace_console or settings.log_json
    ):
        # Nothing would receive a span: keep OpenTelemetry's no-op tracer, so the instrumentation
        # on every RPC, statement and Redis command does no span work. Recording spans for no
        # exporter cost a large share of a cheap read's CPU (bench/README.md, "Quiet machine").
        _tracing = False
        return
    provider = TracerProvider(resource=Resource.create({"service.name": process_name}))
    if settings.otlp_endpoint:
        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if settings.trace_file is not None:
        provider.add_span_processor(BatchSpanProcessor(JsonLinesSpanExporter(settings.trace_file)))
    if settings.trace_console:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument_libraries()


def tracing() -> bool:
    """Whether this process records spans (see configure)."""
    return _tracing


def instrument_libraries() -> None:
    """Trace every Redis command of this process (idempotent)."""
    global _libraries_instrumented
    if _libraries_instrumented or not _tracing:
        return
    _libraries_instrumented = True
    RedisInstrumentor().instrument()


def instrument_s3() -> None:
    """Trace every S3 call; called by the code that makes an S3 client, so processes that never
    touch S3 do not load botocore (about 12 MB of resident memory per process)."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    instrumentor = BotocoreInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def instrument_engine(engine: AsyncEngine) -> None:
    """Trace every statement an engine runs, as a child span of the RPC that ran it."""
    if not _tracing:
        return
    sync_engine = engine.sync_engine
    system = sync_engine.dialect.name
    database = sync_engine.url.database or ""

    def before(_c: Any, _cur: Any, statement: str, _p: Any, ctx: Any, _many: bool) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = _db_tracer.start_span(
            f"{verb} {system}",
            kind=trace.SpanKind.CLIENT,
            attributes={"db.system": system, "db.name": database, "db.statement": statement},
        )
        ctx._shutter_span = span

    def after(_c: Any, _cur: Any, _stmt: str, _p: Any, ctx: Any, _many: bool) -> None:
        span = getattr(ctx, "_shutter_span", None)
        if span is not None:
            span.end()

    def failed(context: Any) -> None:
        span = getattr(context.execution_context, "_shutter_span", None)
        if span is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(context.original_exception)))
            span.end()

    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "handle_error", failed)


def server_interceptors() -> list[aio.ServerInterceptor]:
    """Return the interceptor that opens a server span per RPC, joining the caller's trace
    (none when this process records no spans)."""
    return [aio_server_interceptor()] if _tracing else []  # type: ignore[no-untyped-call]


def client_interceptors() -> list[aio.ClientInterceptor]:
    """Return the interceptors that open a client span per RPC and send the trace context
    (none when this process records no spans)."""
    return list(aio_client_interceptors()) if _tracing else []  # type: ignore[no-untyped-call]
