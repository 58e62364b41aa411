"""MediaService over gRPC: checks the caller, turns protos into domain calls and back."""

from __future__ import annotations

from collections.abc import AsyncIterator

from grpc import aio

from media_svc import blobs, domain, store, worker
from media_svc.exports import BUILDING, EXPORT_PREFIX, FAILED, READY, Exports, ExportView
from media_svc.peers import GrpcAccountData
from media_svc.settings import MediaSettings
from mesh import auth, convert, deletion
from mesh.errors import InvalidArgument
from mesh.runtime import ServiceRuntime
from mesh.server import Service
from shutter.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc

NAME = "media_svc"

_MEDIA_STATUS = {
    "pending": media_pb2.MEDIA_STATUS_PENDING,
    "processing": media_pb2.MEDIA_STATUS_PROCESSING,
    "ready": media_pb2.MEDIA_STATUS_READY,
    "failed": media_pb2.MEDIA_STATUS_FAILED,
}
_UPLOAD_STATUS = {
    "pending": media_pb2.UPLOAD_STATUS_PENDING,
    "processing": media_pb2.UPLOAD_STATUS_PROCESSING,
    "ready": media_pb2.UPLOAD_STATUS_READY,
    "failed": media_pb2.UPLOAD_STATUS_FAILED,
}
_HLS_STATUS = {
    "processing": media_pb2.HLS_STATUS_PROCESSING,
    "ready": media_pb2.HLS_STATUS_READY,
    "failed": media_pb2.HLS_STATUS_FAILED,
}
_MEDIA_TYPE = {"photo": media_pb2.MEDIA_TYPE_PHOTO, "video": media_pb2.MEDIA_TYPE_VIDEO}
_VARIANTS = (
    "thumbnail",
    "feed",
    "full",
    "thumbnail_webp",
    "feed_webp",
    "full_webp",
    "story",
    "story_full",
    "story_webp",
    "story_full_webp",
)
# Transcoded renditions from large to small (the upload itself is never served).
_VIDEO_ORDER = ("video_720p", "video_480p", "video_source")


def media_message(record: store.MediaRecord, library: domain.MediaLibrary) -> media_pb2.Media:
    """Return the Media proto of a record, with absolute URLs once it is ready."""
    message = media_pb2.Media(
        media_id=record.media_id,
        owner_user_id=record.owner_user_id,
        type=_MEDIA_TYPE[record.kind],
        status=_MEDIA_STATUS.get(record.status, media_pb2.MEDIA_STATUS_UNSPECIFIED),
        filter=record.filter,
        created_at=convert.timestamp(record.created_at),
    )
    if record.status != "ready":
        return message
    message.width, message.height, message.duration_ms = (
        record.width,
        record.height,
        record.duration_ms,
    )
    for name in _VARIANTS:
        rendition = record.rendition(name)
        if rendition is not None:
            setattr(message.variants, name, library.url(rendition.key))
    thumbnail = record.rendition("thumbnail")
    if thumbnail is not None:
        message.variants.thumbnail_key = thumbnail.key
    story = record.rendition("story_full")
    if story is not None:
        message.variants.story_width, message.variants.story_height = story.width, story.height
    if record.kind == "video":
        for name in _VIDEO_ORDER:
            rendition = record.rendition(name)
            if rendition is None:
                continue
            message.video_renditions.append(
                media_pb2.VideoRendition(
                    url=library.url(rendition.key),
                    width=rendition.width,
                    height=rendition.height,
                    label=name.removeprefix("video_"),
                    size_bytes=rendition.size,
                )
            )
        if message.video_renditions:
            message.video_url = message.video_renditions[0].url
        master = record.rendition("master")
        if master is not None:
            message.hls_url = library.url(master.key)
            message.hls_status = _HLS_STATUS.get(
                record.hls_status, media_pb2.HLS_STATUS_UNSPECIFIED
            )
    return message


def upload_message(view: domain.UploadView, library: domain.MediaLibrary) -> media_pb2.Upload:
    """Return the Upload proto of an upload."""
    record = view.record
    message = media_pb2.Upload(
        upload_id=record.upload_id,
        media_id=record.media_id,
        status=_UPLOAD_STATUS.get(record.status, media_pb2.UPLOAD_STATUS_UNSPECIFIED),
        upload_url=view.upload_url,
        upload_method=domain.UPLOAD_METHOD if view.upload_url else "",
        upload_headers=view.upload_headers,
        expires_at=convert.timestamp(record.expires_at),
        content_type=record.content_type,
        size_bytes=record.size_bytes,
        media=media_message(record, library),
        created_at=convert.timestamp(record.created_at),
    )
    if record.status == "failed":
        message.failure_code = record.failure_code
        message.failure_reason = record.failure_reason
    return message


_EXPORT_STATES = {
    BUILDING: media_service_pb2.DATA_EXPORT_STATE_BUILDING,
    READY: media_service_pb2.DATA_EXPORT_STATE_READY,
    FAILED: media_service_pb2.DATA_EXPORT_STATE_FAILED,
}


def export_message(view: ExportView) -> media_service_pb2.DataExport:
    """Return the DataExport proto of an export as its owner sees it."""
    record = view.record
    message = media_service_pb2.DataExport(
        export_id=record.export_id,
        state=_EXPORT_STATES[record.state],
        created_at=convert.timestamp(record.created_at),
        download_url=view.url,
        size_bytes=record.size_bytes,
    )
    if record.ready_at is not None:
        message.ready_at.CopyFrom(convert.timestamp(record.ready_at))
    if record.expires_at is not None:
        message.expires_at.CopyFrom(convert.timestamp(record.expires_at))
    if view.url_expires_at is not None:
        message.url_expires_at.CopyFrom(convert.timestamp(view.url_expires_at))
    return message


class MediaServicer(media_service_pb2_grpc.MediaServiceServicer):
    """The gRPC face of the upload and media rules."""

    def __init__(self, library: domain.MediaLibrary, exports: Exports) -> None:
        self._library = library
        self._exports = exports

    async def CreateDataExport(
        self, request: media_service_pb2.CreateDataExportRequest, context: aio.ServicerContext
    ) -> media_service_pb2.CreateDataExportResponse:
        view = await self._exports.start(caller=auth.require_user(), user_id=request.user_id)
        return media_service_pb2.CreateDataExportResponse(export=export_message(view))

    async def GetDataExport(
        self, request: media_service_pb2.GetDataExportRequest, context: aio.ServicerContext
    ) -> media_service_pb2.GetDataExportResponse:
        view = await self._exports.latest(caller=auth.require_user(), user_id=request.user_id)
        return media_service_pb2.GetDataExportResponse(export=export_message(view))

    async def CreateUpload(
        self, request: media_service_pb2.CreateUploadRequest, context: aio.ServicerContext
    ) -> media_service_pb2.CreateUploadResponse:
        caller = auth.require_user()
        view = await self._library.create_upload(
            caller=caller, content_type=request.content_type, size_bytes=request.size_bytes
        )
        return media_service_pb2.CreateUploadResponse(upload=upload_message(view, self._library))

    async def Upload(
        self,
        request_iterator: AsyncIterator[media_service_pb2.UploadRequest],
        context: aio.ServicerContext,
    ) -> media_service_pb2.UploadResponse:
        auth.require_user()
        caller = auth.current_principal()
        first = await anext(aiter(request_iterator), None)
        if first is None or first.upload_id <= 0:
            raise InvalidArgument.field("upload_id", "the first message must name the upload")
        upload_id = first.upload_id

        async def chunks() -> AsyncIterator[bytes]:
            yield first.chunk
            async for message in request_iterator:
                if message.upload_id not in (0, upload_id):
                    raise InvalidArgument.field("upload_id", "must not change during the stream")
                yield message.chunk

        view, received = await self._library.receive(
            caller=caller, upload_id=upload_id, chunks=chunks()
        )
        return media_service_pb2.UploadResponse(
            upload=upload_message(view, self._library), received_bytes=received
        )

    async def CompleteUpload(
        self, request: media_service_pb2.CompleteUploadRequest, context: aio.ServicerContext
    ) -> media_service_pb2.CompleteUploadResponse:
        auth.require_user()
        view = await self._library.complete(
            caller=auth.current_principal(), upload_id=request.upload_id, filter_name=request.filter
        )
        return media_service_pb2.CompleteUploadResponse(upload=upload_message(view, self._library))

    async def GetUpload(
        self, request: media_service_pb2.GetUploadRequest, context: aio.ServicerContext
    ) -> media_service_pb2.GetUploadResponse:
        view = await self._library.get_upload(
            caller=auth.current_principal(), upload_id=request.upload_id
        )
        return media_service_pb2.GetUploadResponse(upload=upload_message(view, self._library))

    async def GetMedia(
        self, request: media_service_pb2.GetMediaRequest, context: aio.ServicerContext
    ) -> media_service_pb2.GetMediaResponse:
        record = await self._library.get_media(
            caller=auth.current_principal(), media_id=request.media_id
        )
        return media_service_pb2.GetMediaResponse(media=media_message(record, self._library))

    async def BatchGetMedia(
        self, request: media_service_pb2.BatchGetMediaRequest, context: aio.ServicerContext
    ) -> media_service_pb2.BatchGetMediaResponse:
        found = await self._library.batch_get(
            caller=auth.current_principal(), media_ids=list(request.media_ids)
        )
        return media_service_pb2.BatchGetMediaResponse(
            media=[media_message(r, self._library) for r in found]
        )

    async def DeleteMedia(
        self, request: media_service_pb2.DeleteMediaRequest, context: aio.ServicerContext
    ) -> media_service_pb2.DeleteMediaResponse:
        await self._library.delete(caller=auth.current_principal(), media_id=request.media_id)
        return media_service_pb2.DeleteMediaResponse()

    async def ReadBlob(
        self, request: media_service_pb2.ReadBlobRequest, context: aio.ServicerContext
    ) -> AsyncIterator[media_service_pb2.ReadBlobResponse]:
        export = request.key.startswith(EXPORT_PREFIX)
        if export:
            self._exports.check_signed(
                key=request.key, expires=request.expires, signed=request.signature
            )
        blob = await self._library.open_blob(
            signed_export=export,
            key=request.key,
            offset=request.offset,
            length=request.length,
            suffix_length=request.suffix_length,
            metadata_only=request.metadata_only,
        )
        yield media_service_pb2.ReadBlobResponse(
            metadata=media_service_pb2.BlobMetadata(
                content_type=blob.info.content_type,
                size_bytes=blob.info.size,
                etag=blob.info.etag,
                modified_at=convert.timestamp(blob.info.modified_at),
                offset=blob.offset,
                length=blob.length,
            )
        )
        async for chunk in blob.chunks:
            yield media_service_pb2.ReadBlobResponse(chunk=chunk)


async def open_blob_store(settings: MediaSettings) -> blobs.BlobStore:
    """Return the configured blob store: S3 when an endpoint is set, else the local directory."""
    if settings.s3_endpoint is None:
        return blobs.LocalBlobStore(settings.blobs_dir())
    s3 = blobs.S3BlobStore(
        endpoint=settings.s3_endpoint,
        bucket=settings.s3_bucket,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        region=settings.s3_region,
        presign_endpoint=settings.s3_presign_endpoint,
        spool_dir=settings.work_dir().parent / "media_spool",
    )
    await s3.ensure_bucket()
    return s3


async def create_media_service(settings: MediaSettings) -> Service:
    """Open the database (migrated), the blob store and the outbox relay, start the worker, and
    start serving."""
    runtime = await ServiceRuntime.open(
        NAME,
        settings,
        database_url=settings.database_url,
        replica_url=settings.database_replica_url,
        outbox_table=store.outbox,
    )
    try:
        blob_store = await open_blob_store(settings)
        runtime.close_on_stop(blob_store.close)
        media_store = store.SqlMediaStore(
            runtime.engine, outbox=runtime.outbox(), replica=runtime.replica
        )
        processing = worker.Worker(media_store, blob_store, settings=settings)
        library = domain.MediaLibrary(
            media_store,
            blob_store,
            ids=runtime.ids,
            settings=settings,
            wake_worker=processing.wake,
            wake_sweeper=processing.wake_sweeper,
        )
        exports = Exports(
            media_store,
            blob_store,
            sources=GrpcAccountData(
                runtime.channels,
                service_token=runtime.identity,
                timeout=settings.export_gather_timeout_seconds,
            ),
            secret=settings.service_secret_path().read_bytes(),
            ids=runtime.ids,
            settings=settings,
        )
        servicer = MediaServicer(library, exports)
        await runtime.consume(
            group=NAME + deletion.GROUP_SUFFIX,
            handler=deletion.handler(
                deletion.DeletionLedger(runtime.engine, store.deletion_ledger),
                [*library.deletion_steps(), ("exports", exports.forget_account)],
            ),
            event_types={deletion.ACCOUNT_DELETED},
        )
        runtime.run_in_background(
            lambda: exports.run_forever(settings.media_sweep_interval_seconds), name="exports"
        )
        runtime.close_on_stop(exports.stop)
        await processing.start()
        runtime.close_on_stop(processing.stop)  # the worker stops first
        return await runtime.serve(
            register=lambda server: media_service_pb2_grpc.add_MediaServiceServicer_to_server(
                servicer, server
            ),
            service_names=[media_service_pb2.DESCRIPTOR.services_by_name["MediaService"].full_name],
        )
    except BaseException:
        await runtime.close()
        raise
