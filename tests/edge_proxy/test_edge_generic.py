"""Nothing in the edge is specific to user routes: a made-up service with richer fields."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from google.api import http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from openapi_spec_validator import validate

from edge_proxy.openapi import build_openapi
from edge_proxy.routes import RouteTable, make_route
from edge_proxy.transcode import EdgeError, build_request, render_response, to_json

F = descriptor_pb2.FieldDescriptorProto
Pair = tuple[str, str]


def _field(name: str, number: int, kind: Any, type_name: str = "") -> F:
    made = F(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
    if type_name:
        made.type_name = type_name
    return made


def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(
        name="demo/v1/demo.proto",
        package="demo.v1",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
        enum_type=[
            descriptor_pb2.EnumDescriptorProto(
                name="Kind",
                value=[
                    descriptor_pb2.EnumValueDescriptorProto(name="KIND_UNSPECIFIED", number=0),
                    descriptor_pb2.EnumValueDescriptorProto(name="KIND_PHOTO", number=1),
                ],
            )
        ],
        message_type=[
            descriptor_pb2.DescriptorProto(
                name="Post",
                field=[
                    _field("post_id", 1, F.TYPE_INT64),
                    _field("caption", 2, F.TYPE_STRING),
                    _field("kind", 3, F.TYPE_ENUM, type_name=".demo.v1.Kind"),
                    _field("created_at", 4, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp"),
                    _field("reply", 5, F.TYPE_MESSAGE, type_name=".demo.v1.Post"),
                    _field("counts", 6, F.TYPE_MESSAGE, type_name=".demo.v1.Post.CountsEntry"),
                ],
                nested_type=[
                    descriptor_pb2.DescriptorProto(
                        name="CountsEntry",
                        field=[_field("key", 1, F.TYPE_STRING), _field("value", 2, F.TYPE_UINT64)],
                        options=descriptor_pb2.MessageOptions(map_entry=True),
                    )
                ],
            ),
            descriptor_pb2.DescriptorProto(
                name="EditRequest",
                field=[
                    _field("post", 1, F.TYPE_MESSAGE, type_name=".demo.v1.Post"),
                    _field("tags", 2, F.TYPE_STRING),
                    _field("notify", 3, F.TYPE_BOOL),
                    _field("kind", 4, F.TYPE_ENUM, type_name=".demo.v1.Kind"),
                ],
            ),
            descriptor_pb2.DescriptorProto(
                name="EditResponse",
                field=[_field("post", 1, F.TYPE_MESSAGE, type_name=".demo.v1.Post")],
            ),
        ],
        service=[
            descriptor_pb2.ServiceDescriptorProto(
                name="DemoService",
                method=[
                    descriptor_pb2.MethodDescriptorProto(
                        name="Edit",
                        input_type=".demo.v1.EditRequest",
                        output_type=".demo.v1.EditResponse",
                    )
                ],
            )
        ],
    )
    file.message_type[0].field[5].label = F.LABEL_REPEATED
    file.message_type[1].field[1].label = F.LABEL_REPEATED
    pool.Add(file)
    return pool


EDIT = _pool().FindMethodByName("demo.v1.DemoService.Edit")


def _table(rule: http_pb2.HttpRule) -> RouteTable:
    return RouteTable([make_route("demo_svc", EDIT, rule)])


def _request(
    routes: RouteTable, method: str, path: str, body: bytes = b"", query: Sequence[Pair] = ()
) -> Any:
    """Return the request message a call builds."""
    found = routes.match(method, path)
    assert found is not None
    return build_request(found, body=body, query=query)


def test_nested_path_variable_query_repeated_bool_and_enum() -> None:
    routes = _table(http_pb2.HttpRule(get="/v1/posts/{post.post_id}", response_body="post"))
    query = [
        ("tags", "a"),
        ("tags", "b"),
        ("notify", "true"),
        ("kind", "KIND_PHOTO"),
        ("post.caption", "hi"),
        ("post.postId", "99"),  # the path binds post_id: ignored
    ]
    request = _request(routes, "GET", "/v1/posts/77", query=query)
    assert request.post.post_id == 77
    assert request.post.caption == "hi"
    assert list(request.tags) == ["a", "b"]
    assert request.notify is True
    assert request.kind == 1


def test_bad_enum_in_the_query_names_the_choices() -> None:
    routes = _table(http_pb2.HttpRule(get="/v1/posts"))
    with pytest.raises(EdgeError, match="KIND_PHOTO") as raised:
        _request(routes, "GET", "/v1/posts", query=[("kind", "KIND_VIDEO")])
    assert raised.value.http_status == 400


def test_body_field_and_rendering_of_well_known_types() -> None:
    routes = _table(http_pb2.HttpRule(patch="/v1/posts/{post.post_id}", body="post"))
    body = json.dumps({"caption": "c", "createdAt": "2025-01-02T03:04:05Z", "counts": {"x": "3"}})
    request = _request(routes, "PATCH", "/v1/posts/5", body.encode(), [("notify", "0")])
    assert request.post.post_id == 5
    assert request.post.counts["x"] == 3
    assert request.notify is False
    rendered = to_json(type(request.post)(post_id=5, created_at=request.post.created_at))
    assert rendered["postId"] == "5"
    assert rendered["createdAt"] == "2025-01-02T03:04:05Z"
    assert rendered["kind"] == "KIND_UNSPECIFIED"
    assert rendered["counts"] == {}


def test_response_body_of_an_unset_message_renders_its_defaults() -> None:
    route = _table(http_pb2.HttpRule(get="/v1/p", response_body="post")).routes[0]
    response = message_factory.GetMessageClass(EDIT.output_type)()
    assert render_response(route, response)["postId"] == "0"


def test_openapi_of_rich_messages_validates() -> None:
    routes = RouteTable(
        [
            make_route("demo_svc", EDIT, http_pb2.HttpRule(get="/v1/posts/{post.post_id}")),
            make_route(
                "demo_svc", EDIT, http_pb2.HttpRule(post="/v1/posts:edit", body="*"), suffix="2"
            ),
            make_route(
                "demo_svc",
                EDIT,
                http_pb2.HttpRule(put="/v1/{post.caption=captions/*}", body="post"),
                suffix="3",
            ),
        ]
    )
    document = build_openapi(routes)
    validate(document)
    schemas = document["components"]["schemas"]
    post = schemas["demo.v1.Post"]["properties"]
    assert post["kind"] == {"$ref": "#/components/schemas/demo.v1.Kind"}
    assert schemas["demo.v1.Kind"] == {"type": "string", "enum": ["KIND_UNSPECIFIED", "KIND_PHOTO"]}
    assert post["reply"] == {"$ref": "#/components/schemas/demo.v1.Post"}
    assert post["counts"] == {
        "type": "object",
        "additionalProperties": {"type": "string", "format": "uint64"},
    }
    assert post["createdAt"] == {"type": "string", "format": "date-time"}
    get = document["paths"]["/v1/posts/{post.post_id}"]["get"]
    names = {p["name"] for p in get["parameters"]}
    assert {"post.post_id", "post.caption", "post.kind", "tags", "notify"} <= names
    assert "/v1/posts:edit" in document["paths"]
    assert "/v1/{post.caption}" in document["paths"]
