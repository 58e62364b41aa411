"""The edge's two byte-streaming routes, the only ones not transcoded from annotations.

- `PUT /api/v1/uploads/{uploadId}` streams a request body into media_svc's client-streaming
  Upload RPC, chunk by chunk, never holding the file in memory.
- `GET|HEAD /media/{key}` is the origin of processed media, as a CDN would pull it: immutable
  caching (HLS playlists: a few seconds), ETag and 304, byte ranges (206/416) for video. Data
  exports' ZIPs (`x/...`) are served the same way on signed, expiring URLs, never cached.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from email.utils import format_datetime
from typing import Any

import grpc
from grpc import aio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from edge_proxy.openapi import ERROR_RESPONSE
from edge_proxy.settings import EdgeSettings
from edge_proxy.transcode import EdgeError, rpc_error_response, rpc_metadata, to_json
from mesh.clients import Channels
from shutter.media.v1 import media_service_pb2, media_service_pb2_grpc

# media_svc takes at most 1 MiB per upload message.
UPLOAD_CHUNK_BYTES = 1024 * 1024
IMMUTABLE = "public, max-age=31536000, immutable"
# HLS playlists keep their URL while a video's ladder grows (the master lists more rungs once
# they are made): caches keep them briefly. Segments, like every other file, never change.
PLAYLIST_CACHE = "public, max-age=10"
# A data export is one person's data: no shared cache keeps it.
PRIVATE = "private, no-store"
# Keys of data exports' ZIPs, served only on signed URLs.
EXPORT_PREFIX = "x/"
_KEY = re.compile(r"[A-Za-z0-9._\-/]{1,512}")
_SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class MediaRoutes:
    """Handlers of the upload PUT and the /media origin."""

    def __init__(
        self,
        settings: EdgeSettings,
        channels: Channels,
        *,
        identity: Callable[[], str] = lambda: "",
    ) -> None:
        self._settings = settings
        self._channels = channels
        self._identity = identity

    def _stub(self) -> media_service_pb2_grpc.MediaServiceStub:
        return media_service_pb2_grpc.MediaServiceStub(self._channels.channel("media_svc"))

    async def put_upload(self, request: Request) -> Response:
        """Stream the body into the upload, refusing a body larger than declared up front."""
        upload_id = _upload_id(request.path_params["upload_id"])
        metadata = rpc_metadata(
            request,
            max_authorization_bytes=self._settings.edge_max_authorization_bytes,
            service_identity=self._identity(),
        )
        stub = self._stub()
        try:
            upload = (
                await stub.GetUpload(
                    media_service_pb2.GetUploadRequest(upload_id=upload_id),
                    metadata=metadata,
                    timeout=self._settings.edge_rpc_timeout_seconds,
                )
            ).upload
        except aio.AioRpcError as exc:
            return rpc_error_response(exc)
        declared = request.headers.get("content-length")
        if (
            declared is not None
            and declared.strip().isdigit()
            and int(declared) > upload.size_bytes
        ):
            # Refused before a byte is read: the client said how much it will send.
            raise EdgeError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the body is {declared} bytes but the upload was declared as {upload.size_bytes}",
                reason="UPLOAD_TOO_LARGE",
                http_status=413,
            )
        try:
            reply = await stub.Upload(
                _upload_messages(request, upload_id),
                metadata=metadata,
                timeout=self._settings.edge_upload_timeout_seconds,
            )
        except aio.AioRpcError as exc:
            return rpc_error_response(exc)
        return JSONResponse(to_json(reply))

    async def get_media(self, request: Request) -> Response:
        """Serve a stored file (or a range of it) with CDN-friendly caching headers."""
        key = request.path_params["key"]
        if not _KEY.fullmatch(key) or any(part in ("", ".", "..") for part in key.split("/")):
            raise EdgeError(
                grpc.StatusCode.NOT_FOUND, "no such media file", reason="MEDIA_NOT_FOUND"
            )
        head = request.method == "HEAD"
        conditional = request.headers.get("if-none-match")
        read = media_service_pb2.ReadBlobRequest(key=key, metadata_only=head or bool(conditional))
        export = key.startswith(EXPORT_PREFIX)
        if export:
            # A data export's ZIP: media_svc checks the URL's signature and expiry.
            expires = request.query_params.get("expires", "")
            read.expires = int(expires) if expires.isdigit() and len(expires) < 19 else 0
            read.signature = request.query_params.get("signature", "")[:128]
        ranged = _apply_range(read, request.headers.get("range"))
        stream = self._stub().ReadBlob(
            read,
            timeout=self._settings.edge_upload_timeout_seconds,
            metadata=rpc_metadata(
                request,
                max_authorization_bytes=self._settings.edge_max_authorization_bytes,
                service_identity=self._identity(),
            ),
        )
        chunks = stream.__aiter__()
        try:
            first = await chunks.__anext__()
        except aio.AioRpcError as exc:
            return rpc_error_response(exc)
        meta = first.metadata
        headers = {
            "Cache-Control": (
                PRIVATE if export else PLAYLIST_CACHE if key.endswith(".m3u8") else IMMUTABLE
            ),
            "ETag": meta.etag,
            "Accept-Ranges": "bytes",
            "Last-Modified": format_datetime(meta.modified_at.ToDatetime(tzinfo=UTC), usegmt=True),
        }
        if conditional and _etag_matches(conditional, meta.etag):
            stream.cancel()
            return Response(status_code=304, headers=headers)
        if conditional and not head:
            # The tag did not match: read again, this time with the bytes.
            stream.cancel()
            read.metadata_only = False
            stream = self._stub().ReadBlob(
                read,
                timeout=self._settings.edge_upload_timeout_seconds,
                metadata=rpc_metadata(
                    request,
                    max_authorization_bytes=self._settings.edge_max_authorization_bytes,
                    service_identity=self._identity(),
                ),
            )
            chunks = stream.__aiter__()
            try:
                meta = (await chunks.__anext__()).metadata
            except aio.AioRpcError as exc:
                return rpc_error_response(exc)
        status = 200
        if ranged:
            if meta.size_bytes == 0 or meta.offset >= meta.size_bytes:
                stream.cancel()
                return Response(
                    status_code=416,
                    headers={**headers, "Content-Range": f"bytes */{meta.size_bytes}"},
                )
            status = 206
            end = meta.offset + meta.length - 1
            headers["Content-Range"] = f"bytes {meta.offset}-{end}/{meta.size_bytes}"
        length = meta.length if (ranged or not head) else meta.size_bytes
        headers["Content-Length"] = str(length)
        if head:
            stream.cancel()
            return Response(status_code=status, headers=headers, media_type=meta.content_type)
        return StreamingResponse(
            _body(chunks), status_code=status, headers=headers, media_type=meta.content_type
        )


def _upload_id(text: str) -> int:
    if not text.isdigit() or int(text) >= 2**63:
        raise EdgeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "upload_id must be a 64-bit id",
            reason="INVALID_PARAMETER",
        )
    return int(text)


async def _upload_messages(
    request: Request, upload_id: int
) -> AsyncIterator[media_service_pb2.UploadRequest]:
    """Yield the upload stream: the id first, then the body in chunks of at most 1 MiB."""
    yield media_service_pb2.UploadRequest(upload_id=upload_id)
    pending = bytearray()
    async for piece in request.stream():
        pending += piece
        while len(pending) >= UPLOAD_CHUNK_BYTES:
            yield media_service_pb2.UploadRequest(chunk=bytes(pending[:UPLOAD_CHUNK_BYTES]))
            del pending[:UPLOAD_CHUNK_BYTES]
    if pending:
        yield media_service_pb2.UploadRequest(chunk=bytes(pending))


def _apply_range(read: media_service_pb2.ReadBlobRequest, header: str | None) -> bool:
    """Set the read's range from a single-range Range header; return whether one applies.

    Several ranges in one header are answered with the whole file, as RFC 9110 allows.
    """
    if not header:
        return False
    found = _SINGLE_RANGE.fullmatch(header.strip())
    if found is None:
        return False
    first, last = found.groups()
    if not first and not last:
        return False
    if not first:
        read.suffix_length = int(last)
        return read.suffix_length > 0
    read.offset = int(first)
    if last:
        if int(last) < read.offset:
            return False
        read.length = int(last) - read.offset + 1
    return True


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


async def _body(chunks: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    async for part in chunks:
        yield part.chunk


_ERRORS = {"default": ERROR_RESPONSE}

# The OpenAPI description of these two routes (the annotated ones describe themselves).
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/uploads/{upload_id}": {
        "put": {
            "operationId": "Edge_PutUploadBytes",
            "summary": "Send an upload's bytes, exactly the declared size (streamed to media_svc).",
            "tags": ["MediaService"],
            "parameters": [
                {"name": "upload_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            },
            "responses": {
                "200": {"description": "The bytes were received; the upload is still pending."},
                "413": {"description": "The body is larger than the upload's declared size."},
                **_ERRORS,
            },
        }
    },
    "/media/{key}": {
        method: {
            "operationId": f"Edge_{method.title()}Media",
            "summary": "The origin of processed media: immutable, cacheable, ranges for video.",
            "tags": ["MediaService"],
            "security": [],
            "parameters": [
                {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "Range", "in": "header", "schema": {"type": "string"}},
                {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "The file, with Cache-Control immutable and an ETag."},
                "206": {"description": "The requested byte range."},
                "304": {"description": "Not modified (the ETag matched)."},
                "416": {"description": "The range starts past the end of the file."},
                **_ERRORS,
            },
        }
        for method in ("get", "head")
    },
}
