"""Signed video links over real HTTP: two tenants each make a video through the MCP server against the
sandbox, then fetch it as a remote caller would, from the link server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.types import ResourceLink
from starlette.applications import Starlette

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Sandbox, ServedApp
from heygen_video_mcp.server.videolinks import LinkConfigError, VideoLinks, library_lookup, links_from_env
from heygen_video_mcp.tools.library import Library

from .conftest import MakeSettings, data_of

SECRET = b"0123456789abcdef0123456789abcdef"


@dataclass
class Saved:
    tenant: str
    execution_id: str
    path: Path


class Tenants:
    """One library shared by every tenant, each seeing its own jobs, under one video folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = Library(root / "library.sqlite3")

        self.lookup = library_lookup(self.store)

    def library(self, tenant: str) -> Library:
        return self.store.for_tenant(tenant)


@pytest.fixture
def tenants(tmp_path: Path) -> Iterator[Tenants]:
    found = Tenants(tmp_path / "videos")
    yield found
    found.store.close()


async def make_video(make_settings: MakeSettings, tenants: Tenants, tenant: str) -> Saved:
    settings = make_settings(output_dir=tenants.root / tenant)
    async with Client(create_server(settings, library=tenants.library(tenant))) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": f"A lighthouse at dusk for {tenant}"}))
        done = data_of(await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]}))
        for _ in range(50):
            if not done["saving"]:
                break
            await anyio.sleep(0.1)
            done = data_of(await client.call_tool("check_status", {"execution_id": job["execution_id"]}))
    assert done["local_path"], done
    return Saved(tenant, job["execution_id"], Path(done["local_path"]))


@pytest.fixture
async def saved(make_settings: MakeSettings, tenants: Tenants) -> AsyncIterator[dict[str, Saved]]:
    yield {t: await make_video(make_settings, tenants, t) for t in ("acme", "globex")}


@pytest.fixture
def server(tenants: Tenants) -> Iterator[tuple[VideoLinks, str]]:
    links = VideoLinks(SECRET, root=tenants.root, lookup=tenants.lookup)
    with ServedApp(Starlette(routes=links.routes())) as served:
        yield links, served.base_url


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())))


@pytest.mark.anyio
async def test_a_link_serves_the_saved_video_with_seeking(
    saved: dict[str, Saved], server: tuple[VideoLinks, str], sandbox: Sandbox
) -> None:
    links, base = server
    video = saved["acme"]
    url, expires = links.sign(base, "acme", video.execution_id)
    assert url.startswith(f"{base}/videos/{video.execution_id}.mp4?tenant=acme&") and expires.timestamp() > time.time()
    body = video.path.read_bytes()
    size = len(body)
    with httpx2.Client() as http:
        whole = http.get(url)
        assert whole.status_code == 200 and whole.content == body
        assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["content-disposition"].startswith("inline")

        part = http.get(url, headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206 and part.content == body[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{size}"
        tail = http.get(url, headers={"Range": "bytes=-500"})
        assert tail.status_code == 206 and tail.content == body[-500:]
        assert tail.headers["content-range"] == f"bytes {size - 500}-{size - 1}/{size}"
        beyond = http.get(url, headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"

        head = http.head(url)
        assert head.status_code == 200 and head.headers["content-length"] == str(size) and not head.content


@pytest.mark.anyio
async def test_expired_tampered_and_other_tenants_links_are_refused(
    saved: dict[str, Saved], server: tuple[VideoLinks, str], tenants: Tenants
) -> None:
    links, base = server
    acme, globex = saved["acme"], saved["globex"]
    url, _ = links.sign(base, "acme", acme.execution_id)
    issued_long_ago = VideoLinks(SECRET, root=tenants.root, lookup=tenants.lookup, clock=lambda: time.time() - 7200)
    expired, _ = issued_long_ago.sign(base, "acme", acme.execution_id)
    signature = parse_qs(urlsplit(url).query)["sig"][0]
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    cases = {
        "expired": (expired, 403, "expired"),
        "tampered signature": (with_query(url, sig=flipped), 403, "not valid"),
        "no signature": (url.split("?")[0], 403, "not valid"),
        "later expiry": (with_query(url, expires=str(int(time.time()) + 10**6)), 403, "not valid"),
        # acme's link pointed at globex's video, or at acme's video under globex's name
        "another video": (url.replace(acme.execution_id, globex.execution_id), 403, "not valid"),
        "another tenant": (with_query(url, tenant="globex"), 403, "not valid"),
        "traversal": (url.replace(f"{acme.execution_id}.mp4", "..%2F..%2Fetc%2Fpasswd"), 404, "not found"),
        "not a video": (url.replace(f"{acme.execution_id}.mp4", "library.sqlite3"), 404, "not found"),
    }
    with httpx2.Client() as http:
        for name, (address, status, words) in cases.items():
            answer = http.get(address)
            assert answer.status_code == status, (name, answer.text)
            assert words in answer.text.lower(), (name, answer.text)
            assert acme.path.read_bytes()[:64] not in answer.content, name
        assert "check_status" in http.get(expired).text

        # globex's own link works; a link signed for globex with acme's video finds nothing in globex's library
        mine, _ = links.sign(base, "globex", globex.execution_id)
        assert http.get(mine).content == globex.path.read_bytes()
        forged, _ = links.sign(base, "globex", acme.execution_id)
        assert http.get(forged).status_code == 404

        # a link signed by a server with another secret (a replica without the shared one) is refused
        stranger = VideoLinks(b"another secret, another server!!", root=tenants.root, lookup=tenants.lookup)
        theirs, _ = stranger.sign(base, "acme", acme.execution_id)
        assert http.get(theirs).status_code == 403


@pytest.mark.anyio
async def test_files_outside_the_video_folder_are_never_served(
    saved: dict[str, Saved], tenants: Tenants, tmp_path: Path
) -> None:
    # The library says the video is at a path outside the video folder (say a download_video to an absolute
    # directory): the link finds no video rather than serving that file.
    outside = tmp_path / "elsewhere.mp4"
    outside.write_bytes(saved["acme"].path.read_bytes())
    links = VideoLinks(SECRET, root=tenants.root / "acme" / "sub", lookup=tenants.lookup)
    with ServedApp(Starlette(routes=links.routes())) as served, httpx2.Client() as http:
        url, _ = links.sign(served.base_url, "acme", saved["acme"].execution_id)
        assert http.get(url).status_code == 404


@pytest.mark.anyio
async def test_replicas_with_a_shared_secret_accept_each_others_links(
    saved: dict[str, Saved], tenants: Tenants, caplog: pytest.LogCaptureFixture
) -> None:
    shared = {"HEYGEN_MCP_URL_SECRET": SECRET.decode(), "HEYGEN_MCP_URL_SECONDS": "600"}
    one, two = (links_from_env(shared, root=tenants.root, lookup=tenants.lookup) for _ in range(2))
    alone = links_from_env({}, root=tenants.root, lookup=tenants.lookup)
    assert "HEYGEN_MCP_URL_SECRET is not set" in caplog.text and "every replica" in caplog.text
    video = saved["acme"]
    with ServedApp(Starlette(routes=two.routes())) as served, httpx2.Client() as http:
        url, expires = one.sign(served.base_url, "acme", video.execution_id)
        assert 590 <= expires.timestamp() - time.time() <= 601
        assert http.get(url).content == video.path.read_bytes()
        assert http.get(alone.sign(served.base_url, "acme", video.execution_id)[0]).status_code == 403


def test_bad_configuration_is_named(tenants: Tenants) -> None:
    with pytest.raises(LinkConfigError, match="at least 32 characters"):
        links_from_env({"HEYGEN_MCP_URL_SECRET": "short"}, root=tenants.root, lookup=tenants.lookup)
    with pytest.raises(LinkConfigError, match="from 60 to 604800"):
        links_from_env({"HEYGEN_MCP_URL_SECONDS": "5"}, root=tenants.root, lookup=tenants.lookup)
    with pytest.raises(LinkConfigError, match="HEYGEN_MCP_PUBLIC_URL must be"):
        links_from_env({"HEYGEN_MCP_PUBLIC_URL": "videos.example.com"}, root=tenants.root, lookup=tenants.lookup)


@pytest.mark.anyio
async def test_remote_results_carry_a_link_instead_of_a_path(
    make_settings: MakeSettings, tenants: Tenants, sandbox: Sandbox
) -> None:
    # The link server's address is the public URL the results use (as behind a proxy, HEYGEN_MCP_PUBLIC_URL).
    links = VideoLinks(SECRET, root=tenants.root, lookup=tenants.lookup)
    with ServedApp(Starlette(routes=links.routes())) as served, httpx2.Client() as http:
        links.public_url = served.base_url
        settings = make_settings(output_dir=tenants.root / "acme")
        server = create_server(settings, library=tenants.library("acme"), links=links)
        async with Client(server) as client:
            job = data_of(await client.call_tool("generate_video", {"prompt": "Fog rolling over a harbour"}))
            assert "video_link" in job and job["video_link"] is None and "local_path" not in job
            eid = job["execution_id"]
            await client.call_tool("wait_for_video", {"execution_id": eid})
            result = await client.call_tool("download_video", {"execution_id": eid})
        video = data_of(result)
        assert "local_path" not in video and str(tenants.root) not in str(result.content)
        assert video["video_link"].startswith(f"{served.base_url}/videos/{eid}.mp4?tenant=acme&")
        assert video["video_link_expires"] and video["video_link"] in video["next_step"]
        resource = [b for b in result.content if isinstance(b, ResourceLink)]
        assert [str(r.uri) for r in resource] == [video["video_link"]] and resource[0].mime_type == "video/mp4"
        body = sandbox.video_bytes(sandbox.jobs[eid].video_id)
        assert http.get(video["video_link"]).content == body
