"""The web client's files, served by the edge: the index at `/` and everything else under
`/assets/<version>/`.

The version is a hash of every file in `edge_proxy/web/`, so an asset's URL changes whenever any
file does: assets are cached for a year (immutable), the index is never cached and names the
current version. The modules import each other by relative paths, which therefore stay inside
one version. The client uses nothing but the public `/api/v1` routes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from edge_proxy.media import IMMUTABLE

WEB_DIR = Path(__file__).parent / "web"
# The index names its assets as `assets/%VERSION%/...`; the edge fills the version in.
VERSION_MARK = "%VERSION%"


def content_version(directory: Path) -> str:
    """Return a short hash of every file's path and bytes under `directory`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class WebClient:
    """The index route and the versioned assets app."""

    def __init__(self, directory: Path = WEB_DIR) -> None:
        self.version = content_version(directory)
        template = (directory / "index.html").read_text(encoding="utf-8")
        self._index = template.replace(VERSION_MARK, self.version).encode()
        self._files = StaticFiles(directory=directory)

    async def index(self, request: Request) -> Response:
        """Answer the index page: revalidated on every load, so a new version shows at once."""
        return Response(
            self._index,
            media_type="text/html",
            headers={"Cache-Control": "no-cache", "ETag": f'"{self.version}"'},
        )

    async def assets(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a file of the current version with immutable caching; 404 for another version."""
        if scope["type"] != "http" or scope.get("path_params", {}).get("version") != self.version:
            raise HTTPException(404, "no such asset (the web client has been updated: reload)")

        async def send_cached(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                message["headers"] = [
                    *message["headers"],
                    (b"cache-control", IMMUTABLE.encode()),
                ]
            await send(message)

        await self._files(scope, receive, send_cached)
