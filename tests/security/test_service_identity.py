"""Finding 6 of the security review, kept fixed on the gRPC ports: internal RPCs trusted any
user token (GetRelationships and CanView told a blocked user who blocked them; BatchGetUsers
returned a profile GetUser hides), and every service held the key that signs user tokens.

Also: reflection can be turned off, and TLS / mutual TLS between services (certificates made
here).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mesh import auth
from mesh.clients import Channels
from mesh.config import MeshSettings
from mesh.server import create_server
from shutter.graph.v1 import graph_service_pb2 as gpb
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.media.v1 import media_service_pb2 as mpb
from shutter.media.v1 import media_service_pb2_grpc
from shutter.message.v1 import message_service_pb2 as msb
from shutter.message.v1 import message_service_pb2_grpc
from shutter.post.v1 import post_service_pb2 as ppb
from shutter.post.v1 import post_service_pb2_grpc
from shutter.user.v1 import user_service_pb2 as upb
from shutter.user.v1 import user_service_pb2_grpc
from tests.e2e.conftest import register
from tests.security.conftest import mesh_settings_of


def _calls(addresses: dict[str, str], blocker: int, blocked: int) -> dict[str, Callable[..., Any]]:
    """Each internal-only RPC the review reached with a user token, as the blocked user asks."""

    def stub(service: str, make: Any) -> Any:
        return make(grpc.aio.insecure_channel(addresses[service]))

    graph = stub("graph_svc", graph_service_pb2_grpc.GraphServiceStub)
    users = stub("user_svc", user_service_pb2_grpc.UserServiceStub)
    posts = stub("post_svc", post_service_pb2_grpc.PostServiceStub)
    media = stub("media_svc", media_service_pb2_grpc.MediaServiceStub)
    messages = stub("message_svc", message_service_pb2_grpc.MessageServiceStub)
    return {
        "GetRelationships": lambda md: graph.GetRelationships(
            gpb.GetRelationshipsRequest(viewer_id=blocked, user_ids=[blocker]), metadata=md
        ),
        "CanView": lambda md: graph.CanView(
            gpb.CanViewRequest(viewer_id=blocked, owner_id=blocker), metadata=md
        ),
        "BatchCanView": lambda md: graph.BatchCanView(
            gpb.BatchCanViewRequest(viewer_id=blocked, owner_ids=[blocker]), metadata=md
        ),
        "GetFollowingIds": lambda md: graph.GetFollowingIds(
            gpb.GetFollowingIdsRequest(user_id=blocker), metadata=md
        ),
        "BatchGetUsers": lambda md: users.BatchGetUsers(
            upb.BatchGetUsersRequest(user_ids=[blocker]), metadata=md
        ),
        "BatchGetPosts": lambda md: posts.BatchGetPosts(
            ppb.BatchGetPostsRequest(viewer_id=blocked, post_ids=[1]), metadata=md
        ),
        "BatchGetViewerFlags": lambda md: posts.BatchGetViewerFlags(
            ppb.BatchGetViewerFlagsRequest(viewer_id=blocker, post_ids=[1]), metadata=md
        ),
        "BatchGetViewersFlags": lambda md: posts.BatchGetViewersFlags(
            ppb.BatchGetViewersFlagsRequest(
                viewers=[ppb.BatchGetViewerFlagsRequest(viewer_id=blocker, post_ids=[1])]
            ),
            metadata=md,
        ),
        "BatchGetSharedPosts": lambda md: posts.BatchGetSharedPosts(
            ppb.BatchGetSharedPostsRequest(post_ids=[1]), metadata=md
        ),
        "ListHashtagIndex": lambda md: posts.ListHashtagIndex(
            ppb.ListHashtagIndexRequest(tag="any", page_size=10, with_author_counts=True),
            metadata=md,
        ),
        "BatchGetMedia": lambda md: media.BatchGetMedia(
            mpb.BatchGetMediaRequest(media_ids=[1]), metadata=md
        ),
        "SetModerator": lambda md: users.SetModerator(
            upb.SetModeratorRequest(username="anyone", moderator=True), metadata=md
        ),
        "GetModerationTarget": lambda md: posts.GetModerationTarget(
            ppb.GetModerationTargetRequest(target_type="REPORT_TARGET_TYPE_POST", target_id=1),
            metadata=md,
        ),
        "HideFromViewer": lambda md: posts.HideFromViewer(
            ppb.HideFromViewerRequest(
                target_type="REPORT_TARGET_TYPE_POST", target_id=1, viewer_id=blocker
            ),
            metadata=md,
        ),
        "RemoveContent": lambda md: posts.RemoveContent(
            ppb.RemoveContentRequest(target_type="REPORT_TARGET_TYPE_POST", target_id=1),
            metadata=md,
        ),
        "GetReportedMessage": lambda md: messages.GetReportedMessage(
            msb.GetReportedMessageRequest(message_id=1, viewer_id=blocked), metadata=md
        ),
        "HideReportedMessage": lambda md: messages.HideReportedMessage(
            msb.HideReportedMessageRequest(message_id=1, viewer_id=blocked), metadata=md
        ),
        "RemoveReportedMessage": lambda md: messages.RemoveReportedMessage(
            msb.RemoveReportedMessageRequest(message_id=1), metadata=md
        ),
    }


def _unsigned(claims: dict[str, Any]) -> str:
    """Return a JWT with alg "none" and no signature."""
    import base64
    import json

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_internal_rpcs_refuse_user_tokens_and_forged_identities(
    client: Any, running_mesh: Any
) -> None:
    blocker, blocked = await register(client, "blocker"), await register(client, "blocked")
    answer = await client.post(f"/api/v1/users/{blocked.user_id}/block", headers=blocker.headers)
    assert answer.status_code == 200
    settings = MeshSettings(**mesh_settings_of(running_mesh))
    calls = _calls(running_mesh.addresses, int(blocker.user_id), int(blocked.user_id))
    user = (("authorization", f"Bearer {blocked.access_token}"),)
    wrong_key = jwt.encode(
        {
            "iss": "shutter",
            "aud": "shutter-internal",
            "sub": "svc:feed_svc",
            "typ": "service",
            "iat": 1,
            "exp": 9_999_999_999,
        },
        b"x" * 32,
        algorithm="HS256",
    )
    forged = {
        "a user token as the identity": ((auth.SERVICE_HEADER, blocked.access_token),),
        "an identity signed with another secret": ((auth.SERVICE_HEADER, wrong_key),),
        "an unsigned identity": (
            (auth.SERVICE_HEADER, _unsigned({"sub": "svc:feed_svc", "typ": "service"})),
        ),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(user)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, name
        assert "blocked" not in (refused.value.details() or "").lower()
        for how, metadata in forged.items():
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(metadata + user)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, (name, how)
        # The edge's identity is the edge's: it never makes an anonymous caller a service.
        edge = ((auth.SERVICE_HEADER, auth.ServiceTokens(settings).issue(auth.EDGE_SERVICE)),)
        if name in ("BatchGetUsers", "BatchGetMedia"):
            continue  # these answer anyone the mesh lets in
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(edge)
        assert refused.value.code() in (
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.INVALID_ARGUMENT,
        ), name
    # A real service identity gets its answer.
    service = ((auth.SERVICE_HEADER, auth.ServiceTokens(settings).issue("feed_svc")),)
    answer = await calls["CanView"](service)
    assert not answer.visibility.can_view


async def test_only_user_svc_needs_the_signing_key(tmp_path: Path) -> None:
    """A service given only the public key starts and verifies tokens; it signs none."""
    full = MeshSettings(data_dir=tmp_path / "signer")
    auth.ensure_keys(full)
    public_only = MeshSettings(
        data_dir=tmp_path / "verifier",
        jwt_public_key_file=full.public_key_path(),
        jwt_private_key_file=tmp_path / "nowhere.pem",
        graph_svc_addr="127.0.0.1:0",
    )
    auth.ensure_keys(public_only)  # no private key needed
    token = auth.TokenIssuer(full).user_token(5)
    assert auth.TokenVerifier(public_only).verify(token).user_id == 5
    with pytest.raises(FileNotFoundError):
        auth.TokenIssuer(public_only)


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, Any] | None = None,
    services: tuple[str, ...] = (),
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("mesh.test"),
                    *(x509.UniformResourceIdentifier(auth.service_uri(s)) for s in services),
                ]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    """Make a CA, a certificate it signs (naming no service), one naming each of three
    services, and a certificate another CA signs."""
    pem = serialization.Encoding.PEM

    def key_pem(k: ec.EllipticCurvePrivateKey) -> bytes:
        return k.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("mesh-ca", ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("mesh.test", key, (ca.subject, ca_key))
    named: dict[str, Path] = {}
    for service in ("user_svc", "post_svc", "feed_svc"):
        service_key = ec.generate_private_key(ec.SECP256R1())
        service_cert = _cert("mesh.test", service_key, (ca.subject, ca_key), (service,))
        named[f"{service}_cert"] = _write(
            tmp_path / f"{service}.pem", service_cert.public_bytes(pem)
        )
        named[f"{service}_key"] = _write(tmp_path / f"{service}-key.pem", key_pem(service_key))
    rogue_ca_key = ec.generate_private_key(ec.SECP256R1())
    rogue_ca = _cert("rogue-ca", rogue_ca_key)
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = _cert("mesh.test", rogue_key, (rogue_ca.subject, rogue_ca_key))

    return {
        "ca": _write(tmp_path / "ca.pem", ca.public_bytes(pem)),
        "cert": _write(tmp_path / "cert.pem", cert.public_bytes(pem)),
        "key": _write(tmp_path / "key.pem", key_pem(key)),
        "rogue_cert": _write(tmp_path / "rogue.pem", rogue.public_bytes(pem)),
        "rogue_key": _write(tmp_path / "rogue-key.pem", key_pem(rogue_key)),
        **named,
    }


async def _health(
    settings: MeshSettings, address: str, identity: Callable[[], str | None] = lambda: None
) -> int:
    channels = Channels(settings, addresses={"user_svc": address}, identity=identity)
    try:
        stub = health_pb2_grpc.HealthStub(channels.channel("user_svc"))
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=3)
        return int(reply.status)
    finally:
        await channels.close()


async def test_mutual_tls_between_services_and_no_reflection(
    tmp_path: Path, certificates: dict[str, Path]
) -> None:
    tls: dict[str, Any] = {
        "mesh_tls_ca_file": certificates["ca"],
        "mesh_tls_cert_file": certificates["cert"],
        "mesh_tls_key_file": certificates["key"],
        "mesh_tls_server_name": "mesh.test",
    }
    settings = MeshSettings(
        data_dir=tmp_path / "data", user_svc_addr="127.0.0.1:0", grpc_reflection=False, **tls
    )
    service = await create_server(
        "user_svc", settings, register=lambda server: None, service_names=[]
    )
    try:
        address = service.address
        assert await _health(settings, address) == health_pb2.HealthCheckResponse.SERVING
        strangers = {
            "plaintext": settings.model_copy(
                update={"mesh_tls_ca_file": None, "mesh_tls_cert_file": None}
            ),
            "no client certificate": settings.model_copy(
                update={"mesh_tls_cert_file": None, "mesh_tls_key_file": None}
            ),
            "a certificate another CA signed": settings.model_copy(
                update={
                    "mesh_tls_cert_file": certificates["rogue_cert"],
                    "mesh_tls_key_file": certificates["rogue_key"],
                }
            ),
        }
        for name, stranger in strangers.items():
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _health(stranger, address)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, name
        channels = Channels(settings, addresses={"user_svc": address})
        try:
            stub = reflection_pb2_grpc.ServerReflectionStub(channels.channel("user_svc"))
            call = stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async for _ in call:
                    pass
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
        finally:
            await channels.close()
    finally:
        await service.stop(0)


async def test_with_mutual_tls_a_service_identity_needs_the_certificate_naming_it(
    tmp_path: Path, certificates: dict[str, Path]
) -> None:
    """With mutual TLS, x-shutter-service counts only from a peer whose client certificate names
    that service (URI SAN spiffe://shutter/<service>): the mesh secret alone, with another
    service's certificate or one naming none, makes no one post_svc."""

    def tls(service: str | None) -> dict[str, Any]:
        cert, key = (
            (certificates[f"{service}_cert"], certificates[f"{service}_key"])
            if service
            else (certificates["cert"], certificates["key"])
        )
        return {
            "mesh_tls_ca_file": certificates["ca"],
            "mesh_tls_cert_file": cert,
            "mesh_tls_key_file": key,
            "mesh_tls_server_name": "mesh.test",
        }

    settings = MeshSettings(
        data_dir=tmp_path / "data", user_svc_addr="127.0.0.1:0", **tls("user_svc")
    )
    service = await create_server(
        "user_svc", settings, register=lambda server: None, service_names=[]
    )
    try:
        tokens = auth.ServiceTokens(settings)
        as_post_svc = lambda: tokens.issue("post_svc")  # noqa: E731

        def client(name: str | None) -> MeshSettings:
            return settings.model_copy(update=tls(name))

        serving = health_pb2.HealthCheckResponse.SERVING
        # The certificate names the identity claimed: accepted.
        assert await _health(client("post_svc"), service.address, as_post_svc) == serving
        # No identity claimed: an ordinary call over mutual TLS.
        assert await _health(client("feed_svc"), service.address) == serving
        for cert in ("feed_svc", None):  # another service's certificate, one naming none
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _health(client(cert), service.address, as_post_svc)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, cert
            assert "SERVICE_IDENTITY_MISMATCH" in str(refused.value.trailing_metadata()), cert
    finally:
        await service.stop(0)


def test_a_certificate_names_its_services() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("ca", key)
    named = _cert("x", key, (ca.subject, key), ("post_svc", "edge_proxy"))
    pem = serialization.Encoding.PEM
    assert auth.certificate_services(named.public_bytes(pem)) == {"post_svc", "edge_proxy"}
    assert auth.certificate_services(ca.public_bytes(pem)) == frozenset()
