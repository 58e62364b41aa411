"""Per-call context: the request id and the caller, visible to everything a call runs."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user, or a service doing background work."""

    subject: str
    user_id: int | None
    is_service: bool
    token: str
    # The session a user's access token belongs to ("" for services and older tokens).
    session_id: str = ""

    @property
    def service_name(self) -> str | None:
        """Return the calling service's name, for service principals."""
        return self.subject.removeprefix("svc:") if self.is_service else None


request_id: ContextVar[str] = ContextVar("shutter_request_id", default="")
# The service that made the current call, from its verified identity (None: not a service).
calling_service: ContextVar[str | None] = ContextVar("shutter_calling_service", default=None)
principal: ContextVar[Principal | None] = ContextVar("shutter_principal", default=None)
# True while an event handler (or other work no client waits on) runs: its outgoing calls wait
# for a restarting peer within their deadline (gRPC wait-for-ready) instead of failing at once.
background: ContextVar[bool] = ContextVar("shutter_background", default=False)
# Monotonic time by which the inbound call must be answered; outgoing calls inherit it.
deadline: ContextVar[float | None] = ContextVar("shutter_deadline", default=None)


def remaining_seconds() -> float | None:
    """Return how long the current inbound call has left, or None outside a call with a deadline."""
    end = deadline.get()
    return None if end is None else end - time.monotonic()
