"""Access tokens: only EdDSA tokens signed by our key, for our issuer and audience, unexpired."""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mesh.auth import TokenIssuer, TokenVerifier, ensure_keys
from mesh.config import MeshSettings
from mesh.errors import Unauthenticated


@pytest.fixture
def settings(mesh_settings: MeshSettings) -> MeshSettings:
    ensure_keys(mesh_settings)
    return mesh_settings


def _claims(**extra: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": "shutter",
        "aud": "shutter",
        "sub": "42",
        "iat": now,
        "exp": now + 60,
        "typ": "access",
        **extra,
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_keys_are_generated_once_and_kept(mesh_settings: MeshSettings) -> None:
    ensure_keys(mesh_settings)
    first = mesh_settings.private_key_path().read_bytes()
    ensure_keys(mesh_settings)
    assert mesh_settings.private_key_path().read_bytes() == first
    assert mesh_settings.private_key_path().stat().st_mode & 0o077 == 0


def test_services_starting_together_on_a_first_run_share_one_key_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every service of a mesh starts at once on first run, and each keeps the key it read
    # then: had two generated, tokens one signs would fail in the others. Key generation is
    # slowed, each starter by a different delay, so that the starters overlap every time.
    generate = Ed25519PrivateKey.generate
    delays = iter(0.02 * n for n in range(6))

    def slow_generate() -> Ed25519PrivateKey:
        time.sleep(next(delays))
        return generate()

    monkeypatch.setattr(Ed25519PrivateKey, "generate", staticmethod(slow_generate))
    settings = MeshSettings(data_dir=tmp_path)
    start = threading.Barrier(6)

    def start_like_a_service() -> str:
        start.wait()
        ensure_keys(settings)
        return TokenIssuer(settings).user_token(7)

    with ThreadPoolExecutor(6) as pool:
        tokens = list(pool.map(lambda _: start_like_a_service(), range(6)))
    verifier = TokenVerifier(settings)
    assert [verifier.verify(token).user_id for token in tokens] == [7] * 6
    assert not list(settings.private_key_path().parent.glob("*.tmp"))


def test_configured_but_missing_key_files_fail_clearly(tmp_path: Path) -> None:
    settings = MeshSettings(data_dir=tmp_path, jwt_private_key_file=tmp_path / "nope.pem")
    with pytest.raises(RuntimeError, match="missing"):
        ensure_keys(settings)


def test_user_token_round_trip(settings: MeshSettings) -> None:
    token = TokenIssuer(settings).user_token(42)
    who = TokenVerifier(settings).verify(token)
    assert who.user_id == 42 and not who.is_service


def test_service_token_names_the_service(settings: MeshSettings) -> None:
    who = TokenVerifier(settings).verify(TokenIssuer(settings).service_token("feed_svc"))
    assert who.is_service and who.user_id is None and who.service_name == "feed_svc"


def _reason(settings: MeshSettings, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        TokenVerifier(settings).verify(token)
    return caught.value.reason


def test_expired_token_is_refused(settings: MeshSettings) -> None:
    key = serialization.load_pem_private_key(settings.private_key_path().read_bytes(), None)
    past = int(time.time()) - 3600
    token = jwt.encode(_claims(iat=past, exp=past + 60), key, algorithm="EdDSA")  # type: ignore[arg-type]
    assert _reason(settings, token) == "TOKEN_EXPIRED"


def test_alg_none_is_refused(settings: MeshSettings) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}."
    assert _reason(settings, token) == "TOKEN_INVALID"


def test_token_signed_with_another_key_is_refused(settings: MeshSettings) -> None:
    token = jwt.encode(_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA")
    assert _reason(settings, token) == "TOKEN_INVALID"


def test_hmac_with_the_public_key_as_secret_is_refused(settings: MeshSettings) -> None:
    # The classic key-confusion attack: HS256 keyed with the (public) verification key.
    public = settings.public_key_path().read_bytes()
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    import hashlib
    import hmac

    signature = _b64(hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest())
    assert _reason(settings, f"{header}.{body}.{signature}") == "TOKEN_INVALID"


_NO_EXPIRY = object()


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"typ": "refresh"},
        {"sub": "svc:feed_svc"},  # a service subject needs typ=service
        {"exp": _NO_EXPIRY},
    ],
    ids=["audience", "issuer", "type", "service-subject", "no-expiry"],
)
def test_tokens_with_wrong_claims_are_refused(
    settings: MeshSettings, changes: dict[str, object]
) -> None:
    # Made when the test runs, not at collection: only the change under test is wrong.
    claims = {k: v for k, v in {**_claims(), **changes}.items() if v is not _NO_EXPIRY}
    key = serialization.load_pem_private_key(settings.private_key_path().read_bytes(), None)
    token = jwt.encode(claims, key, algorithm="EdDSA")  # type: ignore[arg-type]
    assert _reason(settings, token) == "TOKEN_INVALID"


def test_garbage_is_refused(settings: MeshSettings) -> None:
    assert _reason(settings, "not.a.token") == "TOKEN_INVALID"


def test_a_remembered_token_still_expires_on_time(settings: MeshSettings) -> None:
    now = [time.time()]
    verifier = TokenVerifier(settings, clock=lambda: now[0])
    key = serialization.load_pem_private_key(settings.private_key_path().read_bytes(), None)
    issued = int(now[0])
    token = jwt.encode(_claims(iat=issued, exp=issued + 60), key, algorithm="EdDSA")  # type: ignore[arg-type]
    assert verifier.verify(token).user_id == 42
    assert verifier.verify(token).user_id == 42  # from memory
    now[0] = issued + 60  # the expiry instant: gone, from memory as from the signature check
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.reason == "TOKEN_EXPIRED"


def test_a_token_one_byte_off_a_remembered_one_is_refused(settings: MeshSettings) -> None:
    verifier = TokenVerifier(settings)
    token = TokenIssuer(settings).user_token(42)
    assert verifier.verify(token).user_id == 42
    header, body, signature = token.split(".")
    forged_claims = {**json.loads(base64.urlsafe_b64decode(body + "==")), "sub": "43"}
    forged = f"{header}.{_b64(json.dumps(forged_claims).encode())}.{signature}"
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(forged)
    assert caught.value.reason == "TOKEN_INVALID"
    assert verifier.verify(token).user_id == 42
