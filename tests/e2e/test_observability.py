"""One client request is one trace: the edge, every service it reaches, their statements."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.e2e.conftest import register


async def test_a_profile_read_is_one_connected_trace_across_services(
    client: httpx.AsyncClient, finished_spans: Any
) -> None:
    alice = await register(client, "traced")
    finished_spans.clear()
    response = await client.get(f"/api/v1/users/{alice.user_id}", headers=alice.headers)
    assert response.status_code == 200
    everything = finished_spans.get_finished_spans()
    # Background work (outbox relays, consumers) makes traces of its own; find the request's.
    edge_spans = [
        s for s in everything if s.parent is None and s.name.startswith("GET /api/v1/users")
    ]
    assert len(edge_spans) == 1, [s.name for s in everything if s.parent is None]
    root = edge_spans[0]
    spans = [s for s in everything if s.context.trace_id == root.context.trace_id]
    # Every span of the trace hangs below the edge's span: one connected tree.
    assert [s for s in spans if s.parent is None] == [root]
    by_id = {s.context.span_id for s in spans}
    assert all(s.parent is None or s.parent.span_id in by_id for s in spans)
    served = {
        str(s.attributes.get("rpc.service"))
        for s in spans
        if s.kind.name == "SERVER" and s.attributes and "rpc.service" in s.attributes
    }
    # The edge plus at least two services behind it: three services in one trace.
    assert {"shutter.user.v1.UserService", "shutter.graph.v1.GraphService"} <= served
    assert any(s.name.lower().startswith("select") for s in spans)  # the database calls too


async def test_metrics_count_rpcs_by_method_and_status_and_time_the_bus(
    client: httpx.AsyncClient,
) -> None:
    alice = await register(client, "metered")
    assert (await client.get(f"/api/v1/users/{alice.user_id}", headers=alice.headers)).is_success
    assert (await client.get("/api/v1/users/1", headers=alice.headers)).status_code == 404
    # Going private publishes an event graph_svc consumes: the bus lag is measured for it.
    await client.put(
        f"/api/v1/users/{alice.user_id}", json={"isPrivate": True}, headers=alice.headers
    )
    await client.put(
        f"/api/v1/users/{alice.user_id}", json={"isPrivate": False}, headers=alice.headers
    )
    text = ""
    for _ in range(50):
        text = (await client.get("/metrics/")).text
        if "shutter_bus_lag_seconds_count" in text:
            break
        await asyncio.sleep(0.1)
    get_user = 'method="/shutter.user.v1.UserService/GetUser",service="user_svc"'
    assert f'shutter_rpc_requests_total{{code="OK",{get_user}}}' in text
    assert f'shutter_rpc_requests_total{{code="NOT_FOUND",{get_user}}}' in text
    assert "shutter_rpc_duration_seconds_bucket" in text
    assert 'shutter_bus_lag_seconds_count{event_type="shutter.events.v1.UserProfileUpdated"' in text
