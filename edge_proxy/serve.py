"""The edge's HTTP server: uvicorn, ending live streams first when it shuts down.

uvicorn waits for open responses to finish before it stops, and a Server-Sent Events stream
never finishes by itself: without this, every Ctrl-C with a client connected waited out the
whole grace period and then cancelled the stream's task with a traceback.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette


class EdgeServer(uvicorn.Server):
    """uvicorn that tells the app's live streams to end (with a final event) as it shuts down.

    `own_signals=False` leaves SIGINT/SIGTERM to the caller (`shutter up` runs the edge beside
    the services and stops it by setting `should_exit`).
    """

    def __init__(self, config: uvicorn.Config, *, app: Starlette, own_signals: bool = True) -> None:
        super().__init__(config)
        self._app = app
        self._own_signals = own_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if self._own_signals:
            with super().capture_signals():
                yield
        else:
            yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        close_streams = getattr(self._app.state, "close_streams", None)
        if close_streams is not None:
            close_streams()
        await super().shutdown(sockets)
