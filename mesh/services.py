"""The services of the mesh: what each is called, which gRPC services it serves, how to start it."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesh.config import MeshSettings

if TYPE_CHECKING:
    # Only for annotations: reading settings or the service list need not load gRPC.
    from mesh.server import Service


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the mesh."""

    name: str
    # Full names of the gRPC services it serves, such as "shutter.user.v1.UserService".
    grpc_services: tuple[str, ...]
    # The generated module that defines them (importing it puts their descriptors in the pool).
    proto_module: str
    # "module:attribute" of its settings class and of `async def create(settings) -> Service`.
    settings_class: str
    factory: str

    def settings_type(self) -> type[MeshSettings]:
        """Return this service's settings class."""
        cls: type[MeshSettings] = _resolve(self.settings_class)
        return cls

    def settings(self) -> MeshSettings:
        """Return this service's settings, read from the environment."""
        return self.settings_type()()

    def migrations_dir(self) -> Path:
        """Return the service's Alembic folder: `<service>/migrations` by convention."""
        return migrations_dir(self.name)

    def create(self) -> Callable[[Any], Awaitable[Service]]:
        """Return the coroutine function that starts this service."""
        return _resolve(self.factory)  # type: ignore[no-any-return]


def migrations_dir(service: str) -> Path:
    """Return the Alembic folder of a service package."""
    module = importlib.import_module(service)
    assert module.__file__ is not None
    return Path(module.__file__).parent / "migrations"


def _resolve(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


MESH: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="user_svc",
        grpc_services=("shutter.user.v1.UserService",),
        proto_module="shutter.user.v1.user_service_pb2",
        settings_class="user_svc.settings:UserSettings",
        factory="user_svc.servicer:create_user_service",
    ),
    ServiceSpec(
        name="graph_svc",
        grpc_services=("shutter.graph.v1.GraphService",),
        proto_module="shutter.graph.v1.graph_service_pb2",
        settings_class="graph_svc.settings:GraphSettings",
        factory="graph_svc.servicer:create_graph_service",
    ),
    ServiceSpec(
        name="media_svc",
        grpc_services=("shutter.media.v1.MediaService",),
        proto_module="shutter.media.v1.media_service_pb2",
        settings_class="media_svc.settings:MediaSettings",
        factory="media_svc.servicer:create_media_service",
    ),
    ServiceSpec(
        name="post_svc",
        grpc_services=("shutter.post.v1.PostService",),
        proto_module="shutter.post.v1.post_service_pb2",
        settings_class="post_svc.settings:PostSettings",
        factory="post_svc.servicer:create_post_service",
    ),
    ServiceSpec(
        name="feed_svc",
        grpc_services=("shutter.feed.v1.FeedService",),
        proto_module="shutter.feed.v1.feed_service_pb2",
        settings_class="feed_svc.settings:FeedSettings",
        factory="feed_svc.servicer:create_feed_service",
    ),
    ServiceSpec(
        name="notify_svc",
        grpc_services=("shutter.notify.v1.NotifyService",),
        proto_module="shutter.notify.v1.notify_service_pb2",
        settings_class="notify_svc.settings:NotifySettings",
        factory="notify_svc.servicer:create_notify_service",
    ),
    ServiceSpec(
        name="message_svc",
        grpc_services=("shutter.message.v1.MessageService",),
        proto_module="shutter.message.v1.message_service_pb2",
        settings_class="message_svc.settings:MessageSettings",
        factory="message_svc.servicer:create_message_service",
    ),
)


def load_descriptors() -> None:
    """Import every service's generated module so the descriptor pool knows all contracts."""
    for spec in MESH:
        importlib.import_module(spec.proto_module)


def owner_of(grpc_service: str) -> str:
    """Return the mesh service that serves a gRPC service."""
    for spec in MESH:
        if grpc_service in spec.grpc_services:
            return spec.name
    raise KeyError(grpc_service)
