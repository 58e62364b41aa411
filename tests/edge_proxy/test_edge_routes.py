"""The route table: template parsing, precedence, verbs, wildcards and bad annotations."""

from __future__ import annotations

from typing import Any

import pytest
from google.api import http_pb2
from google.protobuf.descriptor import MethodDescriptor

from edge_proxy.routes import Match, RouteTable, build_route_table, make_route
from edge_proxy.transcode import build_request
from shutter.user.v1 import user_service_pb2

SERVICE = user_service_pb2.DESCRIPTOR.services_by_name["UserService"]
GET_USER = SERVICE.methods_by_name["GetUser"]
SEARCH = SERVICE.methods_by_name["SearchUsers"]


def table(*rules: tuple[MethodDescriptor, http_pb2.HttpRule]) -> RouteTable:
    return RouteTable(
        make_route("user_svc", method, rule, suffix=str(i))
        for i, (method, rule) in enumerate(rules)
    )


def find(routes: RouteTable, method: str, path: str) -> Match:
    found = routes.match(method, path)
    assert found is not None, (method, path)
    return found


def request_of(found: Match, body: bytes = b"", query: list[tuple[str, str]] | None = None) -> Any:
    return build_request(found, body=body, query=query or [])


def test_mesh_table_skips_unannotated_rpcs() -> None:
    names = {route.method.name for route in build_route_table().routes}
    assert "GetUser" in names
    assert "BatchGetUsers" not in names


def test_literal_beats_variable_beats_double_star() -> None:
    routes = table(
        (GET_USER, http_pb2.HttpRule(get="/u/{username=**}")),
        (GET_USER, http_pb2.HttpRule(get="/u/{user_id}")),
        (GET_USER, http_pb2.HttpRule(get="/u/me")),
    )
    assert find(routes, "GET", "/u/me").route.template == "/u/me"
    assert find(routes, "GET", "/u/12").route.template == "/u/{user_id}"
    deep = find(routes, "GET", "/u/a/b%2Fc/d")
    assert deep.route.template == "/u/{username=**}"
    assert deep.params[0][1] == "a/b/c/d"


def test_multi_segment_variable_and_verb() -> None:
    routes = table((GET_USER, http_pb2.HttpRule(get="/v1/{username=people/*}/card:print")))
    found = find(routes, "GET", "/v1/people/bob/card:print")
    assert found.params[0][1] == "people/bob"
    assert request_of(found).username == "people/bob"
    assert routes.match("GET", "/v1/people/bob/card") is None
    assert routes.match("GET", "/v1/others/bob/card:print") is None


def test_bare_star_and_custom_method() -> None:
    rule = http_pb2.HttpRule(custom=http_pb2.CustomHttpPattern(kind="PURGE", path="/c/*/{user_id}"))
    routes = table((GET_USER, rule))
    assert request_of(find(routes, "PURGE", "/c/anything/5")).user_id == 5
    assert routes.allowed_methods("/c/x/5") == ["PURGE"]


def test_empty_segments_do_not_match_variables() -> None:
    routes = table((GET_USER, http_pb2.HttpRule(get="/u/{user_id}")))
    assert routes.match("GET", "/u/") is None
    assert routes.match("GET", "/u//") is None


def test_clashing_routes_are_refused() -> None:
    with pytest.raises(ValueError, match="clashes"):
        table(
            (GET_USER, http_pb2.HttpRule(get="/u/{user_id}")),
            (SEARCH, http_pb2.HttpRule(get="/u/{query}")),
        )


@pytest.mark.parametrize(
    "rule",
    [
        http_pb2.HttpRule(get="/u/{nope}"),
        http_pb2.HttpRule(get="u/{user_id}"),
        http_pb2.HttpRule(get="/u/{username=**}/x"),
        http_pb2.HttpRule(get="/u//x"),
        http_pb2.HttpRule(post="/u", body="nope"),
        http_pb2.HttpRule(get="/u", response_body="nope"),
        http_pb2.HttpRule(body="*"),
    ],
)
def test_bad_annotations_fail_at_start_up(rule: http_pb2.HttpRule) -> None:
    with pytest.raises(ValueError):
        make_route("user_svc", GET_USER, rule)


def test_body_field_binding() -> None:
    # body: "<field>" puts the JSON body under one field; the rest may come from the query.
    routes = table((SEARCH, http_pb2.HttpRule(post="/s", body="query")))
    request = request_of(find(routes, "POST", "/s"), b'"alice"', [("limit", "3"), ("q", "no")])
    assert (request.query, request.page_size) == ("alice", 3)
