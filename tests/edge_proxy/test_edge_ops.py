"""The edge's own routes: liveness, readiness and the OpenAPI document."""

from __future__ import annotations

import re

from google.api import annotations_pb2
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2
from openapi_spec_validator import validate

from edge_proxy.openapi import PUBLIC_METHODS

USER_SERVICE = "shutter.user.v1.UserService"


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_when_serving(client):
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "services": {"user_svc": "SERVING"}}


async def test_readyz_when_not_serving(client, upstream):
    await upstream.health.set(USER_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
    try:
        response = await client.get("/readyz")
    finally:
        await upstream.health.set(USER_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "services": {"user_svc": "NOT_SERVING"}}


async def test_readyz_when_unreachable(make_client):
    lonely = await make_client("127.0.0.1:1")
    response = await lonely.get("/readyz")
    assert response.status_code == 503
    assert response.json()["services"] == {"user_svc": "UNAVAILABLE"}


def annotated_routes(service: str) -> set[tuple[str, str, str]]:
    """Return (method, OpenAPI path, RPC) of every binding of a service, from its descriptors."""
    found = set()
    for method in descriptor_pool.Default().FindServiceByName(service).methods:
        if not method.GetOptions().HasExtension(annotations_pb2.http):
            continue
        rule = method.GetOptions().Extensions[annotations_pb2.http]
        for binding in [rule, *rule.additional_bindings]:
            kind = binding.WhichOneof("pattern")
            path = re.sub(r"\{([^}=]+)=[^}]*\}", r"{\1}", getattr(binding, kind))
            found.add((kind, path, method.name))
    return found


async def test_openapi_is_valid_and_lists_every_route(client):
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)

    listed = {
        (verb, path, op["description"].rsplit("/", 1)[1].rstrip("."))
        for path, operations in document["paths"].items()
        for verb, op in operations.items()
        if op["tags"] == ["UserService"]
    }
    expected = annotated_routes(USER_SERVICE)
    assert expected and listed == expected

    operations = [op for ops in document["paths"].values() for op in ops.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert "FeedService_GetUser" in ids and "FeedService_GetUser2" in ids


async def test_openapi_security_and_schemas(client):
    document = (await client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["bearerFormat"] == "JWT"
    assert document["security"] == [{"bearerAuth": []}]
    public, edge_public = set(), set()
    for path, operations in document["paths"].items():
        for op in operations.values():
            if op.get("security") != []:
                continue
            if op["operationId"].startswith("Edge_"):  # the edge's hand-written byte routes
                edge_public.add(path)
            else:
                public.add(f"{USER_SERVICE}.{op['operationId'].split('_', 1)[1]}")
    assert public == PUBLIC_METHODS
    assert edge_public == {"/media/{key}"}  # media files are public, like a CDN's
    assert "put" in document["paths"]["/api/v1/uploads/{upload_id}"]
    assert "get" in document["paths"]["/api/v1/notifications/stream"]

    schemas = document["components"]["schemas"]
    user = schemas["shutter.user.v1.User"]["properties"]
    assert user["userId"] == {"type": "string", "format": "int64"}
    assert user["createdAt"] == {"type": "string", "format": "date-time"}
    assert user["isPrivate"] == {"type": "boolean"}
    summaries = schemas["shutter.user.v1.SearchUsersResponse"]["properties"]["users"]
    assert summaries == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/shutter.user.v1.UserSummary"},
    }

    get_user = document["paths"]["/api/v1/users/{user_id}"]["get"]
    ok = get_user["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/shutter.user.v1.User"}  # response_body "user"
    error = get_user["responses"]["default"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/google.rpc.Status"}
    [path_param] = [p for p in get_user["parameters"] if p["in"] == "path"]
    assert path_param == {
        "name": "user_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "int64"},
    }

    search = document["paths"]["/api/v1/search/users"]["get"]
    names = {p["name"] for p in search["parameters"] if p["in"] == "query"}
    assert names == {"q", "pageSize", "pageToken", "limit", "cursor"}

    update = document["paths"]["/api/v1/users/{user_id}"]["put"]
    body = update["requestBody"]["content"]["application/json"]["schema"]
    assert "userId" not in body["properties"]  # bound by the path
    assert {"fullName", "bio", "website", "isPrivate"} <= set(body["properties"])
