"""The edge against a fake UserService: requests built from HTTP, JSON and errors back."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import redis.exceptions

from edge_proxy.transcode import HTTP_STATUS
from mesh import errors
from mesh.ratelimit import MemoryLimiter, RedisLimiter

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def detail(body: dict[str, Any], type_url: str) -> dict[str, Any]:
    """Return the one detail of a type from an error body."""
    found = [d for d in body["details"] if d["@type"] == type_url]
    assert len(found) == 1, body
    return dict(found[0])


def assert_error(response: Any, http_status: int, code: int, reason: str) -> dict[str, Any]:
    """Check an error response's status and shape; return its body."""
    assert response.status_code == http_status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert body["message"]
    assert detail(body, ERROR_INFO)["reason"] == reason
    return body


# Paths, int64 ids, response_body, additional bindings


async def test_path_param_fills_int64_and_response_body_unwraps(client, fake):
    response = await client.get("/api/v1/users/1234567890123456789")
    assert response.status_code == 200
    assert fake.calls[0].method == "GetUser"
    assert fake.calls[0].request.user_id == 1234567890123456789
    user = response.json()
    # response_body "user": the User itself; int64 as strings; zero values present.
    assert user["userId"] == "1234567890123456789"
    assert user["followerCount"] == "7"
    assert user["postCount"] == "0"
    assert user["isPrivate"] is False
    assert user["bio"] == ""


@pytest.mark.parametrize("bad", ["abc", "12x", "1.5", "99999999999999999999"])
async def test_non_numeric_id_is_400(client, fake, bad):
    response = await client.get(f"/api/v1/users/{bad}")
    body = assert_error(response, 400, 3, "INVALID_PARAMETER")
    assert "user_id" in body["message"]
    assert detail(body, BAD_REQUEST)["fieldViolations"][0]["field"] == "user_id"
    assert fake.calls == []


async def test_additional_binding_routes_to_the_same_rpc(client, fake):
    response = await client.get("/api/v1/users/by-username/ali%20ce")
    assert response.status_code == 200
    assert response.json()["username"] == "ali ce"
    assert fake.calls[0].method == "GetUser"
    assert fake.calls[0].request.username == "ali ce"
    assert fake.calls[0].request.user_id == 0


async def test_literal_segments_win_and_the_method_decides(client, fake):
    # GET on the register path: only `/users/{user_id}` has a GET, so it is a bad id, not a 405.
    response = await client.get("/api/v1/users/register")
    assert_error(response, 400, 3, "INVALID_PARAMETER")
    response = await client.post("/api/v1/users/register", json={"username": "x"})
    assert response.status_code == 200
    assert fake.calls[0].method == "Register"


# Bodies


@pytest.mark.parametrize("name", ["fullName", "full_name"])
async def test_body_star_accepts_camel_and_snake_case(client, fake, name):
    payload = {"username": "alice", "email": "a@example.com", "password": "pw12345678", name: "Al"}
    response = await client.post("/api/v1/users/register", json=payload)
    assert response.status_code == 200, response.text
    request = fake.calls[0].request
    assert (request.username, request.email, request.full_name) == ("alice", "a@example.com", "Al")
    body = response.json()
    assert body["accessToken"] == "access"
    assert body["expiresIn"] == 900
    assert body["user"]["userId"] == "1234567890123456789"
    assert body["user"]["fullName"] == "Al"


async def test_path_wins_over_body_and_optional_false_is_sent(client, fake):
    payload = {"userId": "8", "bio": "hi", "is_private": False}
    response = await client.put("/api/v1/users/7", json=payload)
    assert response.status_code == 200, response.text
    request = fake.calls[0].request
    assert request.user_id == 7
    assert request.bio == "hi"
    assert request.HasField("is_private") and request.is_private is False
    assert not request.HasField("website")
    assert response.json()["userId"] == "7"


async def test_empty_body_is_an_empty_message(client, fake):
    response = await client.post("/api/v1/auth/logout")
    assert response.status_code == 200
    assert response.json() == {}
    assert fake.calls[0].request.refresh_token == ""


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"username": ', "line 1"),
        (b'{"username": "a",}', "column"),
        (b"\xff\xfe\x00", "UTF-8"),
    ],
)
async def test_malformed_json_is_400(client, fake, content, words):
    response = await client.post(
        "/api/v1/users/register", content=content, headers={"content-type": "application/json"}
    )
    body = assert_error(response, 400, 3, "MALFORMED_JSON")
    assert "malformed JSON" in body["message"]
    assert words in body["message"]
    assert fake.calls == []


async def test_body_must_be_an_object(client, fake):
    response = await client.post("/api/v1/users/register", json=["alice"])
    body = assert_error(response, 400, 3, "INVALID_BODY")
    assert "JSON object" in body["message"]
    assert fake.calls == []


async def test_unknown_body_field_is_400_naming_it(client, fake):
    response = await client.post("/api/v1/users/register", json={"username": "a", "nickname": 1})
    body = assert_error(response, 400, 3, "INVALID_BODY")
    assert "nickname" in body["message"]
    assert fake.calls == []


async def test_wrong_body_type_is_400(client, fake):
    response = await client.post("/api/v1/users/register", json={"username": 5})
    body = assert_error(response, 400, 3, "INVALID_BODY")
    assert "username" in body["message"]
    assert fake.calls == []


async def test_body_over_the_limit_by_content_length_is_413(client, fake, max_body):
    payload = json.dumps({"username": "a" * max_body})
    response = await client.post("/api/v1/users/register", content=payload)
    assert_error(response, 413, 8, "BODY_TOO_LARGE")
    assert fake.calls == []


async def test_chunked_body_over_the_limit_is_413_without_reading_it_all(client, fake, max_body):
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield b'{"username": "'
        for _ in range(100):
            pulled += 1
            yield b"a" * 256

    response = await client.post("/api/v1/users/register", content=chunks())
    assert_error(response, 413, 8, "BODY_TOO_LARGE")
    assert pulled <= max_body // 256 + 1
    assert fake.calls == []


async def test_chunked_body_within_the_limit_is_read(client, fake):
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"username": '
        yield b'"bob"}'

    response = await client.post("/api/v1/users/register", content=chunks())
    assert response.status_code == 200, response.text
    assert fake.calls[0].request.username == "bob"


# Query parameters


async def test_query_json_name_and_pagination_aliases(client, fake):
    response = await client.get("/api/v1/search/users?q=al&limit=5&cursor=tok")
    assert response.status_code == 200, response.text
    request = fake.calls[0].request
    assert (request.query, request.page_size, request.page_token) == ("al", 5, "tok")
    assert response.json() == {
        "users": [
            {
                "userId": "5",
                "username": "alina",
                "fullName": "",
                "profilePicUrl": "",
                "isVerified": False,
                "isPrivate": False,
            }
        ],
        "nextPageToken": "",
    }


async def test_query_proto_names_and_unknown_parameters(client, fake):
    response = await client.get("/api/v1/search/users?query=al&page_size=3&pageToken=t&_=17")
    assert response.status_code == 200, response.text
    request = fake.calls[0].request
    assert (request.query, request.page_size, request.page_token) == ("al", 3, "t")


async def test_query_of_the_wrong_type_is_400(client, fake):
    response = await client.get("/api/v1/search/users?q=al&pageSize=many")
    body = assert_error(response, 400, 3, "INVALID_PARAMETER")
    assert "pageSize" in body["message"]
    assert fake.calls == []


async def test_repeating_a_single_query_parameter_is_400(client, fake):
    response = await client.get("/api/v1/search/users?q=a&q=b")
    body = assert_error(response, 400, 3, "INVALID_PARAMETER")
    assert '"q"' in body["message"]
    assert fake.calls == []


async def test_query_never_overrides_a_path_variable(client, fake):
    response = await client.get("/api/v1/users/9?userId=10&user_id=11")
    assert response.status_code == 200
    assert fake.calls[0].request.user_id == 9


# Routing errors


async def test_unknown_route_is_404(client, fake):
    response = await client.get("/api/v1/nothing/here")
    body = assert_error(response, 404, 5, "ROUTE_NOT_FOUND")
    assert "/api/v1/nothing/here" in body["message"]
    assert (await client.get("/api/v1/users/")).status_code == 404
    assert (await client.get("/api/v1/users/1/extra")).status_code == 404
    assert fake.calls == []


async def test_wrong_method_is_405_with_allow(client, fake):
    response = await client.patch("/api/v1/users/5")
    assert_error(response, 405, 12, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "DELETE, GET, PUT"
    response = await client.patch("/api/v1/users/register")
    assert response.headers["allow"] == "DELETE, GET, POST, PUT"
    response = await client.post("/healthz")
    assert_error(response, 405, 12, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["allow"]
    assert fake.calls == []


# Errors from the service


@pytest.mark.parametrize(
    ("error", "http_status", "code"),
    [
        (errors.NotFound("no such user", reason="USER_NOT_FOUND"), 404, 5),
        (errors.AlreadyExists("taken", reason="USERNAME_TAKEN"), 409, 6),
        (errors.Unauthenticated("bad password", reason="INVALID_CREDENTIALS"), 401, 16),
        (errors.PermissionDenied("not yours", reason="NOT_OWNER"), 403, 7),
        (errors.ResourceExhausted("slow down", reason="RATE_LIMITED"), 429, 8),
        (errors.FailedPrecondition("not now", reason="ACCOUNT_LOCKED"), 400, 9),
        (errors.Unavailable("try later", reason="DB_DOWN"), 503, 14),
    ],
)
async def test_service_errors_map_with_details(client, fake, error, http_status, code):
    fake.error = error
    response = await client.post("/api/v1/users/login", json={"username": "a", "password": "b"})
    body = assert_error(response, http_status, code, error.reason)
    assert body["message"] == error.message
    assert detail(body, ERROR_INFO)["domain"] == "user_svc.shutter"


async def test_field_violations_reach_the_client(client, fake):
    fake.error = errors.InvalidArgument.field("username", "at most 30 characters")
    response = await client.post("/api/v1/users/register", json={"username": "x" * 40})
    body = assert_error(response, 400, 3, "INVALID_ARGUMENT")
    [violation] = detail(body, BAD_REQUEST)["fieldViolations"]
    assert violation["field"] == "username"
    assert violation["description"] == "at most 30 characters"


GRPC_GATEWAY_TABLE = {
    # grpc-gateway's 499 (client closed) on purpose replaced: a CANCELLED the edge can still
    # answer is a service stopping mid-call, retryable (issue 16).
    "CANCELLED": 503,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


def test_the_table_is_grpc_gateways():
    assert {code.name: status for code, status in HTTP_STATUS.items()} == {
        "OK": 200,
        **GRPC_GATEWAY_TABLE,
    }


@pytest.mark.parametrize(("name", "http_status"), sorted(GRPC_GATEWAY_TABLE.items()))
async def test_bare_statuses_map_and_get_a_reason(client, fake, name, http_status):
    code = grpc.StatusCode[name]
    fake.bare_status = (code, "plain failure")
    response = await client.get("/api/v1/users/1")
    body = assert_error(response, http_status, code.value[0], name)
    assert detail(body, ERROR_INFO)["domain"] == "edge_proxy.shutter"
    assert response.headers.get("retry-after") == ("1" if http_status == 503 else None)


async def test_deadline_is_504_and_reads_get_the_shorter_one(make_client, upstream, fake):
    slow = await make_client(
        upstream.address, edge_read_timeout_seconds=0.2, edge_rpc_timeout_seconds=5.0
    )
    fake.delay = 1.0
    response = await slow.get("/api/v1/users/1")
    assert_error(response, 504, 4, "DEADLINE_EXCEEDED")
    # A write waits for the longer deadline and gets its answer.
    written = await slow.post("/api/v1/users/login", json={"username": "a", "password": "b"})
    assert written.status_code != 504, written.text
    hasty = await make_client(upstream.address, edge_rpc_timeout_seconds=0.2)
    written = await hasty.post("/api/v1/users/login", json={"username": "a", "password": "b"})
    assert_error(written, 504, 4, "DEADLINE_EXCEEDED")


async def test_unreachable_service_is_503_without_internal_detail(make_client):
    lonely = await make_client("127.0.0.1:1")
    response = await lonely.get("/api/v1/users/1")
    body = assert_error(response, 503, 14, "UNAVAILABLE")
    assert "127.0.0.1" not in body["message"]


# Metadata


async def test_authorization_and_request_id_are_forwarded_and_echoed(client, fake):
    response = await client.get(
        "/api/v1/users/1",
        headers={"Authorization": "Bearer tok.en.123", "X-Request-Id": "req-abc-1"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-abc-1"
    metadata = fake.calls[0].metadata
    assert metadata["authorization"] == "Bearer tok.en.123"
    assert metadata["x-request-id"] == "req-abc-1"


async def test_a_request_id_is_made_when_missing_or_unusable(client, fake):
    for headers in ({}, {"X-Request-Id": "has spaces in it"}):
        response = await client.get("/api/v1/users/1", headers=headers)
        rid = response.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid)
        assert fake.calls[-1].metadata["x-request-id"] == rid
    # Errors the edge answers itself carry one too.
    assert re.fullmatch(r"[0-9a-f]{32}", (await client.get("/nope")).headers["x-request-id"])


async def test_anonymous_client_never_gets_the_channels_identity(make_client, upstream, fake):
    edge = await make_client(upstream.address, identity=lambda: "service-token")
    response = await edge.get("/api/v1/users/1")
    assert response.status_code == 200
    assert fake.calls[0].metadata.get("authorization", "") == ""


async def test_rate_limits_that_cannot_be_checked_shed_the_request_with_503(
    make_client, upstream, fake, monkeypatch
):
    """Redis down, or no free pooled connection in time: the request is shed (503 with
    Retry-After, nothing forwarded), not failed as the edge's own error (500)."""

    async def unreachable(_self, _hits):
        raise redis.exceptions.ConnectionError("No connection available.")

    # Whichever limiter the edge runs (in memory, or on Redis on the engines).
    monkeypatch.setattr(MemoryLimiter, "hit_each", unreachable)
    monkeypatch.setattr(RedisLimiter, "hit_each", unreachable)
    edge = await make_client(upstream.address)
    calls = len(fake.calls)
    response = await edge.get("/api/v1/users/1")
    assert_error(response, 503, 14, "OVERLOADED")
    assert int(response.headers["retry-after"]) >= 1
    assert len(fake.calls) == calls
