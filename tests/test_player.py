"""The player in the chat (MCP Apps): the binding, the ui:// page, results unchanged for clients without
Apps, and the page playing a real sandbox video in headless Chromium under a host's sandbox and CSP."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client import advertise
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import ResourceLink, TextContent, TextResourceContents

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.player import PLAYER_URI
from heygen_video_mcp.server.sandbox import Sandbox

from .chromium import REPLY_SECONDS, Chromium, chromium_or_skip
from .conftest import REPO, data_of
from .httpserver import TOKEN, http_server
from .test_stdio import server_params

PROMPT = "A paper boat drifting down a rain-soaked street at night, neon reflections, low tracking shot"
ARTIFACTS = REPO / "tests" / "artifacts"


def apps_client(settings: Settings, mode: str = "auto") -> Client:
    """A client that declares MCP Apps, as a host that renders ui:// pages does."""
    return Client(
        create_server(settings), mode=mode, extensions=[advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]
    )


@asynccontextmanager
async def remote_apps_client(url: str, mode: str = "auto") -> AsyncIterator[Client]:
    """An MCP Apps host's client of a remote server over streamable HTTP, with the team token."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(60.0)) as http,
        Client(
            streamable_http_client(url, http_client=http),
            mode=mode,
            extensions=[advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})],
        ) as client,
    ):
        yield client


async def player_page(client: Client) -> tuple[str, dict[str, Any]]:
    """The player's HTML and its `_meta.ui` (CSP and border), read as a host reads it: `resources/read`."""
    read = await client.read_resource(PLAYER_URI)
    (content,) = read.contents
    assert isinstance(content, TextResourceContents) and content.mime_type == APP_MIME_TYPE
    assert content.meta is not None
    ui: dict[str, Any] = content.meta["ui"]
    return content.text, ui


async def finished_video(client: Client, aspect_ratio: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """generate_video, then wait_for_video until done: its arguments and its result as they are on the wire."""
    created = data_of(await client.call_tool("generate_video", {"prompt": PROMPT, "aspect_ratio": aspect_ratio}))
    arguments = {"execution_id": created["execution_id"]}
    for _ in range(10):
        result = await client.call_tool("wait_for_video", arguments)
        if data_of(result)["done"]:
            return arguments, result.model_dump(mode="json", by_alias=True, exclude_none=True)
    raise AssertionError("the sandbox video never finished")


@pytest.mark.anyio
async def test_the_two_video_tools_are_bound_to_the_player(settings: Settings, sandbox: Sandbox, mode: str) -> None:
    async with apps_client(settings, mode) as client:
        if mode != "legacy":  # the 2025 handshake has no field for extensions: hosts go by the tools' _meta
            assert EXTENSION_ID in (client.server_capabilities.extensions or {})
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        bound = {name for name, tool in tools.items() if (tool.meta or {}).get("ui", {}).get("resourceUri")}
        assert bound == {"wait_for_video", "check_status"}
        assert all(tools[name].meta == {"ui": {"resourceUri": PLAYER_URI}} for name in bound)

        html, ui = await player_page(client)
    # Self-contained: no script, style or frame from anywhere (the host's CSP would block it anyway).
    assert "<script src" not in html and "<link" not in html and "<iframe" not in html
    assert "ui/initialize" in html and "ui/notifications/tool-result" in html
    # The page may play videos from HeyGen and from the API's own origin (here the sandbox).
    assert ui["csp"]["resourceDomains"] == ["https://*.heygen.ai", "https://*.heygen.com", sandbox.base_url]
    assert ui["prefersBorder"] is True


@pytest.mark.anyio
async def test_the_installed_server_serves_the_player_over_stdio(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    """The console script, as a host starts it, finds its page (package data) and binds it."""
    params = server_params(sandbox, tmp_path)
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert tools["wait_for_video"].meta == tools["check_status"].meta == {"ui": {"resourceUri": PLAYER_URI}}
            html, ui = await player_page(client)
    assert html.startswith("<!DOCTYPE html>") and sandbox.base_url in ui["csp"]["resourceDomains"]


@pytest.mark.anyio
async def test_clients_without_apps_get_the_same_results(settings: Settings, mode: str) -> None:
    """The binding is metadata only: a client that does not declare MCP Apps gets today's text and resource link,
    and the very same result as one that does."""
    async with Client(create_server(settings), mode=mode) as plain:
        _, waited = await finished_video(plain, "16:9")
        execution_id = waited["structuredContent"]["execution_id"]
        plain_result = await plain.call_tool("check_status", {"execution_id": execution_id})
    text, link = plain_result.content
    assert isinstance(text, TextContent) and f"Execution {execution_id}: completed" in text.text
    assert isinstance(link, ResourceLink) and link.mime_type == "video/mp4" and link.uri.startswith("file://")
    assert [block["type"] for block in waited["content"]] == ["text", "resource_link"]

    async with apps_client(settings, mode) as apps:
        apps_result = await apps.call_tool("check_status", {"execution_id": execution_id})
    assert apps_result.content == plain_result.content
    assert apps_result.structured_content == plain_result.structured_content
    assert apps_result.is_error is plain_result.is_error is False


def host_page(folder: Path, html: str, ui: dict[str, Any], arguments: dict[str, Any], result: dict[str, Any]) -> Path:
    """tests/player_host.html with this page, its CSP, the tool's arguments and its result filled in."""
    setup = json.dumps({"html": html, "csp": ui["csp"], "arguments": arguments, "result": result})
    page = (REPO / "tests" / "player_host.html").read_text(encoding="utf-8")
    path = folder / "host.html"
    path.write_text(page.replace("__SETUP__", setup.replace("</", "<\\/")), encoding="utf-8")
    return path


def poll(check: Callable[[], Any], what: str) -> Any:
    """Call `check` until it returns something truthy; bounded, so a page that never gets there fails."""
    deadline = time.monotonic() + REPLY_SECONDS
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what} did not happen within {REPLY_SECONDS:g} s"
        time.sleep(0.1)
    return value


def host_saw(browser: Chromium, page: str, method: str) -> list[dict[str, Any]]:
    """The messages with this method that the view has sent the host so far (none while it is loading)."""
    log: list[dict[str, Any]] = browser.evaluate("window.hostLog || []", page)
    return [message for message in log if message.get("method") == method]


Arrange = Callable[[Client], Awaitable[tuple[dict[str, Any], dict[str, Any]]]]


@contextmanager
def player_in_host(
    tmp_path: Path, server: Settings | Callable[[], AbstractAsyncContextManager[Client]], arrange: Arrange
) -> Iterator[tuple[Chromium, str, str, dict[str, Any]]]:
    """Read the player through mcp.Client (of a server with these settings, in memory, or as `server` opens
    it), get a tool result with `arrange`, and open the test host with both in headless Chromium, through
    the MCP Apps handshake. Yields the browser, the host page's session, the view's session (the sandboxed
    iframe is a target of its own) and the tool result."""
    binary = chromium_or_skip()
    open_client = (lambda: apps_client(server)) if isinstance(server, Settings) else server

    async def fetch() -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with open_client() as client:
            html, ui = await player_page(client)
            arguments, result = await arrange(client)
        return html, ui, arguments, result

    html, ui, arguments, result = anyio.run(fetch)
    host = host_page(tmp_path, html, ui, arguments, result)
    with Chromium(binary, tmp_path / "profile") as browser:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        page = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        auto_attach = {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": True}
        browser.call("Target.setAutoAttach", auto_attach, page)
        browser.call("Page.navigate", {"url": host.as_uri()}, page)

        (initialize,) = poll(lambda: host_saw(browser, page, "ui/initialize"), "the view's ui/initialize")
        assert initialize["params"]["appInfo"]["name"] == "heygen-video-player"
        poll(lambda: host_saw(browser, page, "ui/notifications/initialized"), "the view's initialized notification")
        view = next(
            event["params"]["sessionId"]
            for event in browser.events
            if event["method"] == "Target.attachedToTarget" and event["params"]["targetInfo"]["type"] == "iframe"
        )
        yield browser, page, view, result


VIDEO_STATE = """(() => {
  const video = document.querySelector("video");
  return { src: video.src, hidden: video.hidden, ready: video.readyState, time: video.currentTime,
           ended: video.ended, error: video.error && video.error.code, width: video.videoWidth,
           height: video.videoHeight, text: document.body.innerText,
           link: document.getElementById("link").href, linkHidden: document.getElementById("download").hidden };
})()"""


def test_the_player_plays_the_video_in_a_browser(settings: Settings, sandbox: Sandbox, tmp_path: Path) -> None:
    with player_in_host(tmp_path, settings, lambda client: finished_video(client, "9:16")) as (
        browser,
        page,
        view,
        result,
    ):
        video = result["structuredContent"]
        assert video["status"] == "completed" and video["video_url"].startswith(sandbox.base_url)
        shown = poll(lambda: (state := browser.evaluate(VIDEO_STATE, view))["src"] and state, "the video source")
        # It plays the temporary video_url (a file:// path could not load in the sandboxed frame).
        assert shown["src"] == shown["link"] == video["video_url"] and not shown["linkHidden"]
        for words in ("Your HeyGen video", PROMPT, "veo_3_1", "9:16", video["local_path"], "expires"):
            assert words in shown["text"], words

        # The user presses play; a video that cannot play shows in its state (and the page's words) below.
        browser.evaluate("document.querySelector('video').play().catch(() => null)", view)

        def played() -> dict[str, Any] | None:
            state: dict[str, Any] = browser.evaluate(VIDEO_STATE, view)
            return state if state["error"] or state["time"] > 0.3 or state["ended"] else None

        state = poll(played, "playback (the clock moving or the video ending)")
        # Chromium decoded the sandbox's H.264 MP4 under the host's CSP: frames of the video's own 9:16 shape.
        assert state["error"] is None and state["ready"] >= 2, state
        assert state["width"] > 0 and state["height"] * 9 == state["width"] * 16, state
        ARTIFACTS.mkdir(exist_ok=True)
        shot = browser.call("Page.captureScreenshot", {"format": "png"}, page)
        (ARTIFACTS / "player.png").write_bytes(base64.b64decode(shot["data"]))

        assert host_saw(browser, page, "ui/notifications/size-changed")
        # The download link asks the host to open the URL, since a sandboxed frame cannot download.
        browser.evaluate("document.getElementById('link').click()", view)
        (opened,) = poll(lambda: host_saw(browser, page, "ui/open-link"), "the download link's ui/open-link")
        assert opened["params"]["url"] == video["video_url"]


def test_the_player_shows_why_there_is_no_video(settings: Settings, sandbox: Sandbox, tmp_path: Path) -> None:
    async def failed(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
        sandbox.next_outcome("failed", message="Prompt rejected by content moderation")
        return await finished_video(client, "16:9")

    with player_in_host(tmp_path, settings, failed) as (browser, _, view, result):
        assert result["isError"] is True
        shown = poll(
            lambda: (state := browser.evaluate(VIDEO_STATE, view))["text"].startswith("HeyGen video: failed") and state,
            "the failed result",
        )
        assert "Prompt rejected by content moderation" in shown["text"] and PROMPT in shown["text"]
        assert shown["hidden"] and shown["linkHidden"] and not shown["src"]


@pytest.mark.parametrize("broken", ["video_link", "video_url"])
def test_the_player_prefers_the_servers_link_and_falls_back(
    settings: Settings, sandbox: Sandbox, tmp_path: Path, broken: str
) -> None:
    """Remote mode's `video_link` (the server's saved copy) is played first; a source that fails to load gives
    way to the other. The sandbox's working URL stands in for whichever one is not broken."""

    async def remote_shaped(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
        arguments, result = await finished_video(client, "16:9")
        video = result["structuredContent"]
        working = video["video_url"]
        video["video_link"] = video["video_url"] = working
        video[broken] = f"{sandbox.base_url}/videos/no-such-video.mp4"
        return arguments, result

    with player_in_host(tmp_path, settings, remote_shaped) as (browser, _, view, result):
        working = result["structuredContent"]["video_url" if broken == "video_link" else "video_link"]
        browser.evaluate("document.querySelector('video').play().catch(() => null)", view)

        def playing() -> dict[str, Any] | None:
            state: dict[str, Any] = browser.evaluate(VIDEO_STATE, view)
            return state if state["src"] == working and (state["time"] > 0.3 or state["ended"]) else None

        state = poll(playing, "the working source playing")
        assert state["error"] is None and state["link"] == working and "could not be played" not in state["text"]


async def saved_remotely(client: Client) -> tuple[dict[str, Any], dict[str, Any]]:
    """A finished video from a remote server, once its saved copy is there (its `video_link`)."""
    arguments, result = await finished_video(client, "16:9")
    for _ in range(50):
        if result["structuredContent"].get("video_link"):
            return arguments, result
        await anyio.sleep(0.1)
        result = (await client.call_tool("check_status", arguments)).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
    raise AssertionError(f"the video was never saved: {result}")


def test_the_remote_player_plays_the_servers_copy_without_a_public_url(sandbox: Sandbox, tmp_path: Path) -> None:
    """Remote mode with no HEYGEN_MCP_PUBLIC_URL: links point at the address the caller reached the server by,
    so the page's CSP names that origin too, and the server's own signed copy plays (not HeyGen's link)."""
    sandbox.reset()
    with (
        http_server(sandbox, tmp_path) as server,
        player_in_host(tmp_path, lambda: remote_apps_client(server.url), saved_remotely) as (browser, _, view, result),
    ):
        video = result["structuredContent"]
        link = video["video_link"]
        assert link.startswith(f"{server.base}/videos/") and video["video_url"].startswith(sandbox.base_url)
        browser.evaluate("document.querySelector('video').play().catch(() => null)", view)

        def settled() -> dict[str, Any] | None:
            state: dict[str, Any] = browser.evaluate(VIDEO_STATE, view)
            moved = state["src"] != link or state["error"] or state["time"] > 0.3 or state["ended"]
            return state if state["src"] and moved else None

        state = poll(settled, "the server's copy playing (or giving way to HeyGen's link)")
        assert state["src"] == link and state["error"] is None, state
        assert state["link"] == link and "could not be played" not in state["text"]


@pytest.mark.anyio
async def test_the_players_origin_follows_the_callers_host_unless_a_public_url_is_set(
    sandbox: Sandbox, tmp_path: Path, mode: str
) -> None:
    heygen = ["https://*.heygen.ai", "https://*.heygen.com", sandbox.base_url]
    with http_server(sandbox, tmp_path) as server:
        by_name = server.url.replace("127.0.0.1", "localhost")
        for url, origin in ((server.url, server.base), (by_name, by_name.removesuffix("/mcp"))):
            async with remote_apps_client(url, mode) as client:
                _, ui = await player_page(client)
            assert ui["csp"]["resourceDomains"] == [*heygen, origin]
    public = "https://videos.example.com"
    with http_server(sandbox, tmp_path, HEYGEN_MCP_PUBLIC_URL=public) as server:
        async with remote_apps_client(server.url, mode) as client:
            _, ui = await player_page(client)
        assert ui["csp"]["resourceDomains"] == [*heygen, public]
