"""The forged-token set of the security review, through the edge: every token a client could
make without user_svc's private key is refused with 401, whatever the route."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mesh import auth
from mesh.config import MeshSettings
from tests.e2e.conftest import register
from tests.security.conftest import mesh_settings_of


def _b64(value: dict[str, Any] | bytes) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], key: bytes) -> str:
    import hashlib
    import hmac

    signing = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
    mac = hmac.new(key, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(mac)}"


async def test_forged_tokens_are_refused_everywhere(
    client: httpx.AsyncClient, running_mesh: Any
) -> None:
    alice = await register(client, "forged")
    settings = MeshSettings(**mesh_settings_of(running_mesh))
    now = int(time.time())
    claims = {
        "iss": "shutter",
        "aud": "shutter",
        "sub": alice.user_id,
        "iat": now,
        "exp": now + 600,
        "typ": "access",
    }
    header, payload, signature = alice.access_token.split(".")
    public_pem = settings.public_key_path().read_bytes()
    stranger_key = Ed25519PrivateKey.generate()
    service_secret = settings.service_secret_path().read_bytes()
    forged = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        # PyJWT itself refuses to sign with a PEM public key as an HMAC secret: do it by hand.
        "HS256 keyed with the public key": _hs256(claims, public_pem),
        "another Ed25519 key": jwt.encode(claims, stranger_key, algorithm="EdDSA"),
        "the service secret (HS256)": jwt.encode(claims, service_secret, algorithm="HS256"),
        "a service identity as a bearer token": auth.ServiceTokens(settings).issue("feed_svc"),
        "payload swapped under a real signature": (
            f"{header}.{_b64({**claims, 'sub': '1'})}.{signature}"
        ),
        "signature stripped": f"{header}.{payload}.",
        "expired": jwt.encode(
            {**claims, "iat": now - 7200, "exp": now - 3600}, stranger_key, algorithm="EdDSA"
        ),
        "not a JWT": "abc.def",
        "two words": "not one",
    }
    routes = [
        ("GET", f"/api/v1/users/{alice.user_id}"),
        ("GET", "/api/v1/feed"),
        ("POST", "/api/v1/posts"),
        ("GET", "/api/v1/notifications"),
    ]
    for name, token in forged.items():
        for method, path in routes:
            answer = await client.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, json={}
            )
            assert answer.status_code == 401, (name, method, path, answer.text)
    # The real token still works: the refusals are about the tokens, not the routes.
    assert (await client.get(f"/api/v1/users/{alice.user_id}", headers=alice.headers)).is_success
