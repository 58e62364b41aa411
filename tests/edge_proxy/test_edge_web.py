"""The web client's files on the edge: an uncached index naming the current version, immutable
versioned assets, nothing outside the web folder, and a client that calls only public routes."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from edge_proxy.media import IMMUTABLE
from edge_proxy.routes import build_route_table
from edge_proxy.static import WEB_DIR, content_version

VERSION = content_version(WEB_DIR)
JS_FILES = sorted((WEB_DIR / "js").rglob("*.js"))
# `import ... from "./x.js"` and `import("./x.js")`.
_IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(\s*)["'](\.{1,2}/[^"']+)["']""")
# The paths the client hands to api(): string and template literals.
_API_CALL = re.compile(r"""\bapi\(\s*[`"](/[^`"]*)[`"]""")
_SEARCH_PATHS = re.compile(r""":\s*"(/search/[a-z]+)\"""")
_TEMPLATE_PART = re.compile(r"\$\{([^}]*)\}")
# Template parts that stand for a fixed word rather than an id.
_WORDS = {"verb": ["approve", "deny"], "which": ["followers", "following"]}


async def test_index_is_never_cached_and_names_the_current_version(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert f'src="assets/{VERSION}/js/app.js"' in response.text
    assert "%VERSION%" not in response.text


async def test_every_asset_the_index_names_is_immutable(client):
    index = (await client.get("/")).text
    assets = re.findall(r'(?:href|src)="(assets/[^"]+)"', index)
    assert {a.rsplit("/", 1)[1] for a in assets} == {"icon.svg", "style.css", "app.js"}
    types = {"svg": "image/svg+xml", "css": "text/css", "js": "text/javascript"}
    for asset in assets:
        response = await client.get(f"/{asset}")
        assert response.status_code == 200, asset
        assert response.headers["cache-control"] == IMMUTABLE
        assert response.headers["content-type"].startswith(types[asset.rsplit(".", 1)[1]])
        assert response.headers["etag"]


async def test_every_module_import_resolves_within_the_version(client):
    for path in JS_FILES:
        for target in _IMPORT.findall(path.read_text(encoding="utf-8")):
            resolved = (path.parent / target).resolve()
            assert resolved.is_file(), f"{path.name} imports {target}, which does not exist"
            relative = resolved.relative_to(WEB_DIR).as_posix()
            response = await client.get(f"/assets/{VERSION}/{relative}")
            assert response.status_code == 200, relative


async def test_an_old_version_is_not_found(client):
    response = await client.get("/assets/0123456789abcdef/js/app.js")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 5
    assert "reload" in body["message"]


async def test_nothing_outside_the_web_folder_is_served(client):
    for path in (
        f"/assets/{VERSION}/../static.py",
        f"/assets/{VERSION}/%2e%2e/static.py",
        f"/assets/{VERSION}/..%2fstatic.py",
        f"/assets/{VERSION}/js",
        f"/assets/{VERSION}/",
    ):
        # (httpx resolves the first "..": Starlette then redirects to a slash, and that is 404.)
        response = await client.get(path, follow_redirects=True)
        assert response.status_code == 404, path
        assert "content_version" not in response.text


async def test_the_index_is_not_served_under_other_paths(client):
    response = await client.get("/index.html")
    assert response.status_code == 404


def test_the_version_follows_every_file(tmp_path: Path):
    (tmp_path / "index.html").write_text("<p>one</p>")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "app.js").write_text("let a = 1;")
    first = content_version(tmp_path)
    assert content_version(tmp_path) == first
    (tmp_path / "js" / "app.js").write_text("let a = 2;")
    second = content_version(tmp_path)
    assert second != first
    (tmp_path / "js" / "app.js").rename(tmp_path / "js" / "main.js")
    assert content_version(tmp_path) not in (first, second)


def test_the_client_calls_only_public_api_routes():
    table = build_route_table()
    found = set()
    for path in JS_FILES:
        text = path.read_text(encoding="utf-8")
        found.update(_API_CALL.findall(text))
        found.update(_SEARCH_PATHS.findall(text))
    assert len(found) > 30
    for template in sorted(found):
        names = _TEMPLATE_PART.findall(template)
        choices = [_WORDS.get(name.strip(), ["123"]) for name in names]
        for values in itertools.product(*choices):
            pieces = _TEMPLATE_PART.split(template)[::2]
            concrete = "".join(p + v for p, v in zip(pieces, [*values, ""], strict=True))
            assert table.allowed_methods(f"/api/v1{concrete}"), f"no public route for {template}"
