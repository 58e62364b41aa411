"""Rate limits at the edge: per client IP and per account, by route class, with 429 answers.

Every API request belongs to one class (login, register, refresh, uploads, writes, reads, media
for the files under /media, per IP only); each
class has a limit per client IP and, for calls made with a valid access token, per account
(settings `SHUTTER_RATE_LIMIT_<CLASS>_IP` / `_ACCOUNT`). A request over any of its limits gets
429 with `Retry-After` and the `RateLimit-Policy` / `RateLimit` headers of the IETF draft
(draft-ietf-httpapi-ratelimit-headers); allowed requests carry those headers too, for the limit
closest to running out. Wrong passwords are slowed further in user_svc, per account and per IP.

The limiter is the mesh's (mesh.ratelimit): on Redis when SHUTTER_REDIS_URL is set, so every
replica of the edge shares the counts, else in this process. Health and the OpenAPI document
are not limited.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass

import grpc
from prometheus_client import Counter
from redis.exceptions import RedisError
from starlette.requests import Request

from edge_proxy.settings import EdgeSettings
from edge_proxy.transcode import EdgeError
from mesh import auth
from mesh.errors import Unauthenticated
from mesh.ratelimit import Decision, Limiter, Rate, parse_rate

log = logging.getLogger("shutter.edge.limits")

UNCHECKED = Counter(
    "shutter_edge_rate_limits_unchecked_total",
    "Requests the edge answered 503 because their rate limits could not be checked (Redis down, "
    "or no free pooled connection in time).",
    ["route_class"],
)

CLASSES = ("login", "register", "refresh", "uploads", "writes", "reads", "media")
_BY_METHOD = {
    "/shutter.user.v1.UserService/Login": "login",
    "/shutter.user.v1.UserService/Register": "register",
    "/shutter.user.v1.UserService/RefreshToken": "refresh",
    # Confirmed by the password: as guessable as a sign-in.
    "/shutter.user.v1.UserService/DeleteUser": "login",
    "/shutter.media.v1.MediaService/CreateUpload": "uploads",
    "/shutter.media.v1.MediaService/CompleteUpload": "uploads",
}


def route_class(grpc_path: str, http_method: str) -> str:
    """Return the class of a transcoded route: its own for sign-in and uploads, else by verb."""
    return _BY_METHOD.get(grpc_path) or ("reads" if http_method in ("GET", "HEAD") else "writes")


@dataclass(frozen=True)
class _Check:
    name: str
    key: str
    rate: Rate


class EdgeLimits:
    """The edge's rate limits, checked once per request before it is routed."""

    def __init__(self, settings: EdgeSettings, limiter: Limiter) -> None:
        self._settings = settings
        self._limiter = limiter
        scale = settings.rate_limit_scale
        self._rates = {
            (kind, who): parse_rate(text).scaled(scale)
            for kind in CLASSES
            for who in ("ip", "account")
            if (text := getattr(settings, f"rate_limit_{kind}_{who}", ""))
        }
        self._verifier: auth.TokenVerifier | None = None
        self._verifier_failed = False

    @property
    def enabled(self) -> bool:
        """Tell whether limits are checked at all."""
        return self._settings.rate_limits_enabled

    def client_ip(self, request: Request) -> str:
        """Return the client's address: the socket's peer, or with trusted proxies in front the
        X-Forwarded-For entry the nearest trusted proxy added."""
        peer = request.client.host if request.client else "unknown"
        hops = self._settings.edge_trusted_proxy_hops
        if hops == 0:
            return peer
        forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",")]
        forwarded = [a for a in forwarded if a]
        return forwarded[-hops] if len(forwarded) >= hops else peer

    def _account(self, request: Request) -> str | None:
        """Return the user id of a valid bearer token, or None (the service refuses it later)."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token or len(header) > 4096:
            return None
        if self._verifier is None:
            if self._verifier_failed:
                return None
            try:
                self._verifier = auth.TokenVerifier(self._settings)
            except (OSError, RuntimeError, ValueError):
                # No public key here: limits per IP still hold; say so once.
                self._verifier_failed = True
                log.warning("no token public key at the edge: rate limits per account are off")
                return None
        try:
            who = self._verifier.verify(token.strip())
        except Unauthenticated:
            return None
        return str(who.user_id) if who.user_id is not None else None

    async def check(self, request: Request, kind: str) -> dict[str, str]:
        """Consume the request's units; return the RateLimit headers of the answer, or raise
        EdgeError (429 with Retry-After) when a limit is reached."""
        checks = []
        ip_rate = self._rates.get((kind, "ip"))
        if ip_rate is not None:
            ip = hashlib.blake2s(self.client_ip(request).encode(), digest_size=12).hexdigest()
            checks.append(_Check(f"{kind}-ip", f"edge:{kind}:ip:{ip}", ip_rate))
        account_rate = self._rates.get((kind, "account"))
        if account_rate is not None:
            account = self._account(request)
            if account is not None:
                checks.append(_Check(f"{kind}-account", f"edge:{kind}:u:{account}", account_rate))
        tightest: tuple[_Check, Decision] | None = None
        # Every limit in one call (one Redis round trip), in order: a refused one ends it.
        try:
            decisions = await self._limiter.hit_each([(check.key, check.rate) for check in checks])
        except RedisError as exc:
            # No free connection in time, or Redis down: shed the request as overload (the
            # client retries later) rather than fail it as the edge's own error. Counted, not
            # logged per request: under overload that would be thousands of lines a second.
            UNCHECKED.labels(kind).inc()
            raise EdgeError(
                grpc.StatusCode.UNAVAILABLE,
                "the service is busy; try again shortly",
                reason="OVERLOADED",
                http_status=503,
            ) from exc
        for check, decision in zip(checks, decisions, strict=False):
            if not decision.allowed:
                raise too_many(check.name, check.rate, decision)
            if tightest is None or decision.remaining < tightest[1].remaining:
                tightest = (check, decision)
        return headers(*tightest) if tightest else {}


def headers(check: _Check, decision: Decision) -> dict[str, str]:
    """Return the RateLimit-Policy and RateLimit headers of a decision."""
    wait = decision.retry_after if not decision.allowed else decision.reset_after
    return {
        "RateLimit-Policy": f'"{check.name}";{check.rate.policy()}',
        "RateLimit": f'"{check.name}";r={decision.remaining};t={math.ceil(wait)}',
    }


def too_many(name: str, rate: Rate, decision: Decision) -> EdgeError:
    """Return the 429 answer of a refused request."""
    retry = max(1, math.ceil(decision.retry_after))
    return EdgeError(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"too many requests; try again in {retry} s",
        reason="RATE_LIMITED",
        http_status=429,
        headers={"Retry-After": str(retry), **headers(_Check(name, "", rate), decision)},
    )
