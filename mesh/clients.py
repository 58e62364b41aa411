"""Outgoing calls: channels made once per peer, deadlines, retries on UNAVAILABLE, identity."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from grpc import aio

from mesh import context, telemetry
from mesh.auth import SERVICE_HEADER
from mesh.config import MeshSettings
from mesh.server import MAX_MESSAGE_BYTES

# Retries only on UNAVAILABLE (nothing reached the server, or it was shutting down), through gRPC's
# own service config so every stub of the channel gets it. Other codes are answers, not accidents.
RETRY_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
        # Retries pause while calls to the peer keep failing (about 50 failures more than a
        # tenth of the successes: it is down or shedding load), so they never multiply the load
        # on a peer that is already refusing it.
        "retryThrottling": {"maxTokens": 100, "tokenRatio": 0.1},
    }
)


# gRPC's default reconnect backoff starts at 1 s and grows to 120 s, so a caller kept failing for
# seconds after its peer was back. These keep a broken channel redialling every 100 ms to 1 s
# (jittered), and a channel idle after its peer died notices within a keepalive of the restart.
RECONNECT_OPTIONS: list[tuple[str, int]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.dns_min_time_between_resolutions_ms", 100),
]


class _CallContextInterceptor(
    aio.UnaryUnaryClientInterceptor,
    aio.UnaryStreamClientInterceptor,
    aio.StreamUnaryClientInterceptor,
    aio.StreamStreamClientInterceptor,
):
    """Give every outgoing call a deadline, the request id and the caller's identity."""

    def __init__(self, default_timeout: float, identity: Callable[[], str | None]) -> None:
        self._default_timeout = default_timeout
        self._identity = identity

    def _details(self, details: aio.ClientCallDetails) -> aio.ClientCallDetails:
        timeout = details.timeout if details.timeout is not None else self._default_timeout
        remaining = context.remaining_seconds()
        if remaining is not None:
            # Never give a callee more time than our own caller gave us.
            timeout = min(timeout, max(remaining, 0.001))
        metadata = aio.Metadata(*(details.metadata or ()))
        rid = context.request_id.get()
        if rid and "x-request-id" not in metadata:
            metadata["x-request-id"] = rid
        if SERVICE_HEADER not in metadata:
            # Who is calling, beside whom for: internal-only methods require it.
            identity = self._identity()
            if identity:
                metadata[SERVICE_HEADER] = identity
        if "authorization" not in metadata:
            # The user's own token travels on, so their rights (never more) apply downstream.
            who = context.principal.get()
            if who is not None and not who.is_service and who.token:
                metadata["authorization"] = f"Bearer {who.token}"
        wait_for_ready = details.wait_for_ready
        if wait_for_ready is None and context.background.get():
            # Nobody waits on an event handler: riding out a peer's restart within the deadline
            # beats failing at once and spending a retry of the event.
            wait_for_ready = True
        return aio.ClientCallDetails(
            details.method, timeout, metadata, details.credentials, wait_for_ready
        )

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


class Channels:
    """One channel per peer service, made on first use and shared by every stub."""

    def __init__(
        self,
        settings: MeshSettings,
        *,
        addresses: Mapping[str, str] | None = None,
        identity: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._addresses = dict(addresses or {})
        self._identity = identity
        self._channels: dict[str, aio.Channel] = {}

    def address(self, service: str) -> str:
        """Return where a peer listens: an explicit address, else the settings."""
        return self._addresses.get(service) or self._settings.address_of(service)

    def channel(self, service: str) -> aio.Channel:
        """Return the shared channel to a peer service."""
        existing = self._channels.get(service)
        if existing is not None:
            return existing
        options: list[tuple[str, Any]] = [
            ("grpc.service_config", RETRY_SERVICE_CONFIG),
            ("grpc.enable_retries", 1),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            *RECONNECT_OPTIONS,
        ]
        interceptors = [
            *telemetry.client_interceptors(),
            _CallContextInterceptor(self._settings.rpc_deadline_seconds, self._identity),
        ]
        credentials = channel_credentials(self._settings)
        if credentials is None:
            made = aio.insecure_channel(
                self.address(service), options=options, interceptors=interceptors
            )
        else:
            if self._settings.mesh_tls_server_name:
                options.append(
                    ("grpc.ssl_target_name_override", self._settings.mesh_tls_server_name)
                )
            made = aio.secure_channel(
                self.address(service), credentials, options=options, interceptors=interceptors
            )
        self._channels[service] = made
        return made

    async def close(self) -> None:
        """Close every channel."""
        for made in self._channels.values():
            await made.close()
        self._channels.clear()


def channel_credentials(settings: MeshSettings) -> grpc.ChannelCredentials | None:
    """Return TLS credentials for calls between services when the mesh has a CA (with this
    process's certificate, for mutual TLS, when it has one), else None: plaintext."""
    if settings.mesh_tls_ca_file is None:
        return None
    key = settings.mesh_tls_key_file.read_bytes() if settings.mesh_tls_key_file else None
    cert = settings.mesh_tls_cert_file.read_bytes() if settings.mesh_tls_cert_file else None
    return grpc.ssl_channel_credentials(
        root_certificates=settings.mesh_tls_ca_file.read_bytes(),
        private_key=key,
        certificate_chain=cert,
    )
