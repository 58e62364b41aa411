"""Access tokens: short-lived EdDSA JWTs that user_svc signs and every service verifies locally."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
from cachetools import LRUCache
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mesh import context
from mesh.config import MeshSettings
from mesh.errors import PermissionDenied, Unauthenticated
from mesh.revocation import Revocations

ALGORITHM = "EdDSA"  # pinned: a token naming any other algorithm (none, HS256, ...) is refused
SERVICE_PREFIX = "svc:"
# The metadata key of a service's identity, and what signs it (a secret only services hold).
SERVICE_HEADER = "x-shutter-service"
SERVICE_ALGORITHM = "HS256"
SERVICE_AUDIENCE = "shutter-internal"
# The edge's identity: it always calls for a client (with the client's token, or none), never
# as itself, so its identity alone never makes a caller a service.
EDGE_SERVICE = "edge_proxy"
# Verified tokens remembered per process: one request's token is checked by every service it
# reaches, and a client sends the same token for its whole lifetime.
VERIFIED_TOKENS_MAX = 10_000
SERVICE_TOKEN_TTL_SECONDS = 3600
# How a certificate names the service it belongs to (mutual TLS binds identities to them): a URI
# SAN spiffe://shutter/<service>, the SPIFFE convention for workload identities.
SERVICE_URI_PREFIX = "spiffe://shutter/"


def ensure_keys(settings: MeshSettings) -> None:
    """Generate the signing key pair and the service secret into data_dir on first run, unless
    their files are set. With key files set, only the public key must be there: only user_svc
    signs user tokens (TokenIssuer says so clearly when its private key is missing)."""
    ensure_service_secret(settings)
    private_path, public_path = settings.private_key_path(), settings.public_key_path()
    if settings.jwt_private_key_file or settings.jwt_public_key_file:
        if public_path.exists():
            return
        raise RuntimeError(f"the configured JWT public key file is missing: {public_path}")
    with _first_run_lock(private_path.parent):
        if private_path.exists() and public_path.exists():
            return
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write_atomically(private_path, pem)
        _write_atomically(public_path, public_pem)


@contextlib.contextmanager
def _first_run_lock(keys_dir: Path) -> Iterator[None]:
    """Hold the keys folder's lock: every service of a mesh starts at once, and two of them
    generating at the same time would each keep a key pair the others never see (their tokens
    then fail everywhere else)."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    with (keys_dir / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write an owner-only file that a reader sees whole or not at all."""
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    tmp.replace(path)


def _load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"{path} is not an Ed25519 private key")
    return key


def _load_public(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise RuntimeError(f"{path} is not an Ed25519 public key")
    return key


def ensure_service_secret(settings: MeshSettings) -> None:
    """Generate the service-identity secret into data_dir on first run, unless its file is set."""
    path = settings.service_secret_path()
    if settings.service_secret_file:
        if path.exists():
            return
        raise RuntimeError(f"the configured service secret file is missing: {path}")
    with _first_run_lock(path.parent):
        if not path.exists():
            _write_atomically(path, secrets.token_bytes(32))


class ServiceTokens:
    """The identity services show each other in the x-shutter-service header: short HS256 JWTs
    signed with the mesh's service secret, which only services (and the edge) hold.

    It travels beside the caller's own token, never in its place: a call a service makes for a
    user carries the user's access token (whose rights apply) and the service's identity (which
    internal-only RPCs require). A user token cannot pass for it: other key, other header,
    other audience."""

    def __init__(self, settings: MeshSettings, *, clock: Any = time.time) -> None:
        path = settings.service_secret_path()
        secret = path.read_bytes()
        if len(secret) < 32:
            raise RuntimeError(f"{path} must hold at least 32 bytes")
        self._secret = secret
        self._issuer = settings.jwt_issuer
        self._clock = clock
        self._verified: LRUCache[str, tuple[float, str]] = LRUCache(maxsize=1024)

    def issue(self, service: str, *, ttl_seconds: int = 3600) -> str:
        """Return a service's identity token."""
        now = int(self._clock())
        claims = {
            "iss": self._issuer,
            "aud": SERVICE_AUDIENCE,
            "sub": SERVICE_PREFIX + service,
            "iat": now,
            "exp": now + ttl_seconds,
            "typ": "service",
        }
        return jwt.encode(claims, self._secret, algorithm=SERVICE_ALGORITHM)

    def verify(self, token: str) -> str:
        """Return the name of the service a token identifies, or raise Unauthenticated."""
        known = self._verified.get(token)
        if known is not None and self._clock() < known[0]:
            return known[1]
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[SERVICE_ALGORITHM],
                audience=SERVICE_AUDIENCE,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.InvalidTokenError:
            raise Unauthenticated(
                "the service identity is not valid", reason="SERVICE_IDENTITY_INVALID"
            ) from None
        subject = str(claims["sub"])
        if not subject.startswith(SERVICE_PREFIX) or claims.get("typ") != "service":
            raise Unauthenticated(
                "the service identity is not valid", reason="SERVICE_IDENTITY_INVALID"
            )
        name = subject.removeprefix(SERVICE_PREFIX)
        self._verified[token] = (float(claims["exp"]), name)
        return name


def load_service_tokens(settings: MeshSettings) -> ServiceTokens | None:
    """Return the service tokens of the mesh, or None where its secret is not (the edge alone,
    in tests): that process then shows no service identity."""
    try:
        return ServiceTokens(settings)
    except (OSError, RuntimeError):
        return None


class TokenIssuer:
    """Sign access tokens for users and for services."""

    def __init__(self, settings: MeshSettings) -> None:
        self._key = _load_private(settings.private_key_path())
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.ttl_seconds = settings.access_token_ttl_seconds

    def _sign(self, subject: str, ttl_seconds: int, extra: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": secrets.token_urlsafe(12),
            **extra,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def user_token(self, user_id: int, *, session_id: int | str = "") -> str:
        """Return an access token for a user, naming the session it belongs to (claim sid):
        revoking the session ends the token (mesh.revocation)."""
        extra: dict[str, Any] = {"typ": "access"}
        if session_id:
            extra["sid"] = str(session_id)
        return self._sign(str(user_id), self.ttl_seconds, extra)

    def service_token(self, service: str, *, ttl_seconds: int = 3600) -> str:
        """Return a token that identifies a service doing background work."""
        return self._sign(SERVICE_PREFIX + service, ttl_seconds, {"typ": "service"})


class TokenVerifier:
    """Check access tokens with the public key: signature, algorithm, issuer, audience, expiry.

    A token that passed is remembered (up to VERIFIED_TOKENS_MAX, least recently used out) with
    its expiry, so the same token costs a dictionary lookup and an expiry check next time instead
    of a signature check: the signature over the exact same bytes cannot become invalid. Only
    tokens that passed are kept, so a forged token is checked (and refused) every time."""

    def __init__(
        self,
        settings: MeshSettings,
        *,
        clock: Any = time.time,
        revocations: Revocations | None = None,
    ) -> None:
        self._key = _load_public(settings.public_key_path())
        self._revocations = revocations
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._clock = clock
        self._verified: LRUCache[str, tuple[float, context.Principal]] = LRUCache(
            maxsize=VERIFIED_TOKENS_MAX
        )

    def verify(self, token: str) -> context.Principal:
        """Return the principal a token names, or raise Unauthenticated (also for a token of a
        session that has ended, cached or not)."""
        known = self._verified.get(token)
        if known is not None:
            expires_at, principal = known
            if self._clock() >= expires_at:
                del self._verified[token]
                raise Unauthenticated("the access token has expired", reason="TOKEN_EXPIRED")
            self._check_session(principal)
            return principal
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired", reason="TOKEN_EXPIRED") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("the access token is not valid", reason="TOKEN_INVALID") from None
        principal = _principal(claims, token)
        self._verified[token] = (float(claims["exp"]), principal)
        self._check_session(principal)
        return principal

    def _check_session(self, principal: context.Principal) -> None:
        if (
            principal.session_id
            and self._revocations is not None
            and self._revocations.is_revoked(principal.session_id)
        ):
            raise Unauthenticated("the session has ended; sign in again", reason="SESSION_REVOKED")


def _principal(claims: dict[str, Any], token: str) -> context.Principal:
    subject = str(claims["sub"])
    if subject.startswith(SERVICE_PREFIX) and claims.get("typ") == "service":
        return context.Principal(subject=subject, user_id=None, is_service=True, token=token)
    if claims.get("typ") != "access" or not subject.isdigit():
        raise Unauthenticated("the access token is not valid", reason="TOKEN_INVALID")
    return context.Principal(
        subject=subject,
        user_id=int(subject),
        is_service=False,
        token=token,
        session_id=str(claims.get("sid", "")),
    )


def current_principal() -> context.Principal:
    """Return the caller of the current RPC, or raise Unauthenticated when there is none."""
    who = context.principal.get()
    if who is None:
        raise Unauthenticated("this call needs an access token", reason="TOKEN_MISSING")
    return who


def require_user() -> int:
    """Return the calling user's id; services and anonymous callers are refused."""
    who = current_principal()
    if who.user_id is None:
        raise PermissionDenied("this call must be made by a user", reason="USER_REQUIRED")
    return who.user_id


def viewer_id() -> int | None:
    """Return the calling user's id, or None for a service; raise when nobody is signed in."""
    return current_principal().user_id


def identity_source(settings: MeshSettings, service: str) -> Callable[[], str]:
    """Return a function that gives this process's identity token as `service`, renewed well
    before it expires; it gives "" where the service secret is not (an edge alone, in tests)."""
    held: list[tuple[float, str]] = []
    tokens: list[ServiceTokens] = []
    next_look = [0.0]

    def token() -> str:
        now = time.monotonic()
        if not tokens:
            # The services may not have made the secret yet (processes start together): look
            # again, at most once a second, until it is there.
            if now < next_look[0]:
                return ""
            next_look[0] = now + 1.0
            found = load_service_tokens(settings)
            if found is None:
                return ""
            tokens.append(found)
        if not held or held[0][0] <= now:
            held[:] = [(now + SERVICE_TOKEN_TTL_SECONDS / 2, tokens[0].issue(service))]
        return held[0][1]

    return token


@functools.lru_cache(maxsize=64)
def certificate_services(pem: bytes) -> frozenset[str]:
    """Return the services a PEM certificate names (its spiffe://shutter/<service> URI SANs)."""
    cert = x509.load_pem_x509_certificate(pem)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return frozenset()
    uris = sans.get_values_for_type(x509.UniformResourceIdentifier)
    return frozenset(
        u.removeprefix(SERVICE_URI_PREFIX) for u in uris if u.startswith(SERVICE_URI_PREFIX)
    )


def service_uri(service: str) -> str:
    """Return the URI SAN a service's certificate carries."""
    return SERVICE_URI_PREFIX + service
