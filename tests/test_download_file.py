"""heygen_video_mcp.tools.download.download against a small real HTTP host on 127.0.0.1 that each test scripts.

The host controls what a storage host can get wrong: Content-Length, chunking, cut-offs, stalls, Range and
redirects. A saved file is always the whole video; an interrupted download resumes; bytes that are not the
video are never kept; links into private networks are refused.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from heygen_video_mcp.server.sandbox.mp4 import iter_mp4, mp4_bytes
from heygen_video_mcp.tools.download import DEFAULT_MAX_BYTES, download
from heygen_video_mcp.tools.errors import DownloadFailed, LinkExpired

pytestmark = pytest.mark.anyio

VIDEO = mp4_bytes(16, 9, 1.0, seed="x")
# Bigger than the 1 MiB read size, so a cut-off or stall leaves whole chunks written.
BIG = b"".join(iter_mp4(VIDEO, total_size=3_000_000))
CUT = 1_500_000
PIECE = 64 * 1024
NAME = "clip.mp4"
# Stands in for a public storage host: the ToHost transport routes it to the test host.
PUBLIC = "http://93.184.216.34"


@dataclass
class Plan:
    """How the host answers one request."""

    body: bytes = BIG
    status: int = 200
    content_type: str = "video/mp4"
    length: bool = True  # send Content-Length; without it (and not chunked) the body ends when the socket closes
    declared: int | None = None  # a Content-Length to announce instead of the body's
    chunked: bool = False
    cut_at: int | None = None  # close the connection after this many body bytes
    stall_at: int | None = None  # stop sending after this many body bytes, until the test ends
    pace: float = 0.0  # seconds between 64 KiB pieces
    ranges: bool = True  # answer "Range: bytes=N-" with 206
    content_range: str | None = None  # a Content-Range to send instead of the right one
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    status: int = 0
    sent: int = 0


class Host:
    """Answers each path with its queued plans in turn (the last one repeats) and logs every request."""

    def __init__(self) -> None:
        self.plans: dict[str, deque[Plan]] = {}
        self.log: list[Hit] = []
        self.release = threading.Event()  # ends every stall
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.host = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def serve(self, path: str, *plans: Plan) -> str:
        self.plans[path] = deque(plans or [Plan()])
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> list[Hit]:
        return [hit for hit in self.log if hit.path == path]

    def next_plan(self, path: str) -> Plan:
        queue = self.plans.get(path) or deque([Plan(status=404, content_type="text/plain", body=b"no such path")])
        return queue.popleft() if len(queue) > 1 else queue[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    host: Host

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up early is part of the tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        host = self.server.host
        path = self.path.split("?")[0]
        plan = host.next_plan(path)
        hit = Hit(path, {name.lower(): value for name, value in self.headers.items()})
        host.log.append(hit)
        status, body, headers = plan.status, plan.body, dict(plan.headers)
        wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if wanted and plan.ranges and status == 200:
            start = int(wanted[1])
            if start >= len(body):
                status, body, headers = 416, b"", {"Content-Range": f"bytes */{len(body)}"}
            else:
                status = 206
                headers["Content-Range"] = plan.content_range or f"bytes {start}-{len(body) - 1}/{len(body)}"
                body = body[start:]
        hit.status = status
        if plan.content_type:
            headers["Content-Type"] = plan.content_type
        if plan.chunked:
            headers["Transfer-Encoding"] = "chunked"
        elif plan.length:
            headers["Content-Length"] = str(len(body) if plan.declared is None else plan.declared)
        else:
            headers["Connection"] = "close"
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(OSError):  # the client went away
            self._body(plan, body, hit)
        if plan.cut_at is not None or plan.stall_at is not None or not plan.length or plan.declared is not None:
            self.close_connection = True

    def _body(self, plan: Plan, body: bytes, hit: Hit) -> None:
        limit = min(x for x in (plan.cut_at, plan.stall_at, len(body)) if x is not None)
        for start in range(0, limit, PIECE):
            piece = body[start : min(start + PIECE, limit)]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if plan.chunked else piece)
            self.wfile.flush()
            hit.sent += len(piece)
            if plan.pace:
                time.sleep(plan.pace)
        if plan.stall_at is not None:
            self.server.host.release.wait(10)
        elif plan.chunked and plan.cut_at is None:
            self.wfile.write(b"0\r\n\r\n")


class ToHost(httpx2.AsyncBaseTransport):
    """Sends every request to the test host whatever host its URL names: a stand-in for public storage."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def host() -> Iterator[Host]:
    server = Host()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(5.0), follow_redirects=False) as client:
        yield client


@pytest.fixture
async def public(host: Host) -> AsyncIterator[httpx2.AsyncClient]:
    """A client whose every request reaches the test host, so URLs can name public addresses."""
    async with httpx2.AsyncClient(timeout=5.0, transport=ToHost(host.port), follow_redirects=False) as client:
        yield client


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def part_of(directory: Path, name: str = NAME) -> Path:
    return directory / f".{name}.part"


def boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """The top-level (type, offset, size) of a well-formed MP4 that uses only 32-bit sizes."""
    found, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        found.append((kind, offset, size))
        offset += size
    return found


async def fetch(http: httpx2.AsyncClient, url: str, directory: Path, **options: Any) -> Path:
    options.setdefault("allow_private", True)  # the test host is on 127.0.0.1
    with anyio.fail_after(20):
        return await download(http, url, directory, NAME, **options)


# --- a whole video, and nothing else, is saved -------------------------------------------------------


async def test_video_is_saved_whole_with_progress(http: httpx2.AsyncClient, host: Host, tmp_path: Path) -> None:
    url = host.serve("/v.mp4")
    seen: list[tuple[int, int | None]] = []
    path = await fetch(http, url, tmp_path, progress=lambda received, total: seen.append((received, total)))
    assert path == tmp_path / NAME
    assert path.read_bytes() == BIG
    assert files(tmp_path) == [NAME]
    assert len(seen) >= 2  # 3 MB arrive in several chunks
    assert [received for received, _ in seen] == sorted({received for received, _ in seen})
    assert seen[-1][0] == len(BIG)
    assert {total for _, total in seen} == {len(BIG)}
    hit = host.hits("/v.mp4")[0]
    assert "x-api-key" not in hit.headers and "authorization" not in hit.headers
    assert "range" not in hit.headers


async def test_chunked_video_without_length_is_saved(http: httpx2.AsyncClient, host: Host, tmp_path: Path) -> None:
    seen: list[int | None] = []
    url = host.serve("/v.mp4", Plan(chunked=True))
    path = await fetch(http, url, tmp_path, progress=lambda received, total: seen.append(total))
    assert path.read_bytes() == BIG
    assert set(seen) == {None}


async def test_the_four_argument_call_still_works(public: httpx2.AsyncClient, host: Host, tmp_path: Path) -> None:
    host.serve("/v.mp4", Plan(body=VIDEO))
    with anyio.fail_after(20):
        path = await download(public, f"{PUBLIC}/v.mp4", tmp_path, NAME)
    assert path.read_bytes() == VIDEO


async def test_cut_off_without_length_is_not_a_video(http: httpx2.AsyncClient, host: Host, tmp_path: Path) -> None:
    url = host.serve("/v.mp4", Plan(body=VIDEO, length=False, cut_at=50_000), Plan(body=VIDEO))
    with pytest.raises(DownloadFailed) as failed:
        await fetch(http, url, tmp_path)
    message = str(failed.value)
    assert "resume" in message.lower()
    assert not (tmp_path / NAME).exists()
    assert files(tmp_path) == [part_of(tmp_path).name]  # the 50,000 bytes are a sound start: kept

    path = await fetch(http, url, tmp_path)
    assert path.read_bytes() == VIDEO
    assert host.hits("/v.mp4")[1].headers["range"] == "bytes=50000-"
    assert files(tmp_path) == [NAME]


def _mdat_as(kind: str) -> bytes:
    """VIDEO with its last box (mdat) given a 64-bit size, or size 0 ('to the end of the file')."""
    mdat_kind, offset, size = boxes(VIDEO)[-1]
    assert mdat_kind == b"mdat"
    payload = VIDEO[offset + 8 :]
    if kind == "largesize":
        return VIDEO[:offset] + struct.pack(">I4sQ", 1, b"mdat", size + 8) + payload
    return VIDEO[:offset] + struct.pack(">I4s", 0, b"mdat") + payload


@pytest.mark.parametrize("kind", ["largesize", "to-end"])
async def test_large_and_open_ended_boxes_are_sound(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path, kind: str
) -> None:
    body = _mdat_as(kind)
    path = await fetch(http, host.serve("/v.mp4", Plan(body=body)), tmp_path)
    assert path.read_bytes() == body


def _without(kind: bytes) -> bytes:
    return b"".join(VIDEO[offset : offset + size] for found, offset, size in boxes(VIDEO) if found != kind)


MALFORMED = {
    "trailing-junk": VIDEO + b"\x00\x00\x00\x20junk-after-the-last-box",
    "no-moov": _without(b"moov"),
    "tiny-box": VIDEO[:32] + struct.pack(">I4s", 4, b"free") + VIDEO[32:],
    "largesize-overruns": _mdat_as("largesize")[:-1],
    # A size-0 box runs to the end of the file, so moov ends up inside it rather than at the top level.
    "open-ended-box-not-last": VIDEO[:32] + struct.pack(">I4s", 0, b"free") + VIDEO[32:],
    "empty": b"",
    "only-ftyp": VIDEO[:32],
}


@pytest.mark.parametrize("name", MALFORMED)
async def test_malformed_mp4_is_refused_and_deleted(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path, name: str
) -> None:
    url = host.serve("/v.mp4", Plan(body=MALFORMED[name]))
    with pytest.raises(DownloadFailed) as failed:
        await fetch(http, url, tmp_path)
    message = str(failed.value)
    assert "nothing was saved" in message.lower()
    assert "mp4" in message.lower()
    assert files(tmp_path) == []


async def test_html_labelled_as_video_is_refused(http: httpx2.AsyncClient, host: Host, tmp_path: Path) -> None:
    url = host.serve("/v.mp4", Plan(body=b"<!doctype html><html><body>Sign in</body></html>"))
    with pytest.raises(DownloadFailed, match="not an MP4"):
        await fetch(http, url, tmp_path)
    assert files(tmp_path) == []


@pytest.mark.parametrize("status", [401, 403, 404, 410])
async def test_expired_link_statuses(http: httpx2.AsyncClient, host: Host, tmp_path: Path, status: int) -> None:
    url = host.serve("/v.mp4", Plan(status=status, content_type="application/xml", body=b"<Error/>"))
    with pytest.raises(LinkExpired, match=f"HTTP {status}"):
        await fetch(http, url, tmp_path)
    assert files(tmp_path) == []


# --- the size cap ---------------------------------------------------------------------------------------


async def test_announced_size_over_the_cap_is_refused_before_reading(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path
) -> None:
    assert DEFAULT_MAX_BYTES == 2 * 1024**3
    announced = 5 * 1024**3
    # The host announces 5 GiB, sends a little and then stalls: reading on would hang until the test fails.
    url = host.serve("/v.mp4", Plan(declared=announced, stall_at=200_000))
    with anyio.fail_after(3), pytest.raises(DownloadFailed) as failed:
        await download(http, url, tmp_path, NAME, allow_private=True)
    message = str(failed.value)
    assert "HEYGEN_MAX_VIDEO_BYTES" in message
    assert f"{announced:,}" in message and f"{DEFAULT_MAX_BYTES:,}" in message
    assert files(tmp_path) == []


async def test_stream_passing_the_cap_is_stopped(http: httpx2.AsyncClient, host: Host, tmp_path: Path) -> None:
    url = host.serve("/v.mp4", Plan(chunked=True))
    cap = 2_000_000
    seen: list[int] = []
    with pytest.raises(DownloadFailed) as failed:
        await fetch(http, url, tmp_path, max_bytes=cap, progress=lambda received, total: seen.append(received))
    message = str(failed.value)
    assert "HEYGEN_MAX_VIDEO_BYTES" in message and f"{cap:,}" in message
    assert files(tmp_path) == []
    assert seen and max(seen) <= cap  # stopped at the cap, not read to the end


# --- redirects and private addresses ---------------------------------------------------------------------


async def test_redirects_are_followed(http: httpx2.AsyncClient, host: Host, tmp_path: Path) -> None:
    host.serve("/v.mp4", Plan(body=VIDEO))
    host.serve("/b", Plan(status=307, body=b"", headers={"Location": host.url("/v.mp4")}))
    url = host.serve("/a", Plan(status=302, body=b"", headers={"Location": "/b?x=1"}))
    path = await fetch(http, url, tmp_path)
    assert path.read_bytes() == VIDEO
    assert [hit.path for hit in host.log] == ["/a", "/b", "/v.mp4"]


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://example.com/v.mp4", "http://[::1/v.mp4"])
async def test_redirect_to_a_non_http_url_is_refused(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path, location: str
) -> None:
    url = host.serve("/a", Plan(status=302, body=b"", headers={"Location": location}))
    with pytest.raises(DownloadFailed, match="not an http"):
        await fetch(http, url, tmp_path)
    assert files(tmp_path) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)", "http://[::1/v.mp4", "http:///v.mp4"])
async def test_link_that_is_not_an_http_url_is_refused(http: httpx2.AsyncClient, tmp_path: Path, url: str) -> None:
    with pytest.raises(DownloadFailed, match="not an http"):
        await download(http, url, tmp_path / "new", NAME)
    assert not (tmp_path / "new").exists()


async def test_more_than_five_redirects_are_refused(http: httpx2.AsyncClient, host: Host, tmp_path: Path) -> None:
    for n in range(10):
        host.serve(f"/r{n}", Plan(status=302, body=b"", headers={"Location": f"/r{n + 1}"}))
    with pytest.raises(DownloadFailed, match="redirected more than 5 times") as failed:
        await fetch(http, host.url("/r0"), tmp_path)
    assert "stopped" in str(failed.value)
    assert len(host.log) == 6  # the link and five redirects followed
    assert files(tmp_path) == []


PRIVATE = [
    "127.0.0.1",
    "127.1.2.3",
    "localhost",
    "LocalHost.",
    "[::1]",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",
    "0.0.0.0",  # noqa: S104 (a URL to refuse, not an address to bind)
    "[::]",
    "224.0.0.1",
    "240.0.0.1",
    "100.64.0.1",
    "[fe80::1]",
    "[fd00::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:10.0.0.1]",
]


@pytest.mark.parametrize("address", PRIVATE)
async def test_private_link_is_refused_before_connecting(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path, address: str
) -> None:
    host.serve("/v.mp4")
    with anyio.fail_after(5), pytest.raises(DownloadFailed) as failed:
        await download(http, f"http://{address}:{host.port}/v.mp4", tmp_path, NAME)
    message = str(failed.value)
    assert address.strip("[]").rstrip(".").lower() in message.lower()
    assert "public" in message
    assert host.log == []
    assert files(tmp_path) == []


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/v.mp4", "http://169.254.169.254/latest/meta-data/"])
async def test_redirect_into_a_private_network_is_refused(
    public: httpx2.AsyncClient, host: Host, tmp_path: Path, target: str
) -> None:
    host.serve("/v.mp4")
    host.serve("/start", Plan(status=302, body=b"", headers={"Location": target.format(port=host.port)}))
    with anyio.fail_after(5), pytest.raises(DownloadFailed) as failed:
        await download(public, f"{PUBLIC}/start", tmp_path, NAME)
    assert re.search(r"127\.0\.0\.1|169\.254\.169\.254", str(failed.value))
    assert "public" in str(failed.value)
    assert [hit.path for hit in host.log] == ["/start"]
    assert files(tmp_path) == []


async def test_redirects_between_public_hosts_are_followed(
    public: httpx2.AsyncClient, host: Host, tmp_path: Path
) -> None:
    host.serve("/v.mp4", Plan(body=VIDEO))
    host.serve("/start", Plan(status=301, body=b"", headers={"Location": "http://[2606:4700::1111]/v.mp4"}))
    with anyio.fail_after(10):
        path = await download(public, f"{PUBLIC}/start", tmp_path, NAME)
    assert path.read_bytes() == VIDEO


def _private_name() -> str:
    """A host name (not 'localhost') that this machine resolves to a private address, e.g. its own name."""
    name = socket.gethostname()
    try:
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in socket.getaddrinfo(name, None)}
    except OSError:
        pytest.skip(f"{name!r} does not resolve here")
    if name.lower().startswith("localhost") or not any(a.is_private for a in addresses):
        pytest.skip(f"{name!r} does not resolve to a private address here")
    return name


async def test_name_resolving_to_a_private_address_is_refused(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path
) -> None:
    name = _private_name()
    host.serve("/v.mp4")
    with anyio.fail_after(10), pytest.raises(DownloadFailed) as failed:
        await download(http, f"http://{name}:{host.port}/v.mp4", tmp_path, NAME)
    assert name in str(failed.value) and "public" in str(failed.value)
    assert host.log == []
    # The same name is fine when private links are allowed (the local sandbox).
    path = await fetch(http, f"http://{name}:{host.port}/v.mp4", tmp_path)
    assert path.read_bytes() == BIG


async def test_name_that_does_not_resolve_is_left_to_the_client(http: httpx2.AsyncClient, tmp_path: Path) -> None:
    with anyio.fail_after(15), pytest.raises(DownloadFailed) as failed:
        await download(http, "http://no-such-host.invalid/v.mp4", tmp_path, NAME)
    assert "public" not in str(failed.value)
    assert files(tmp_path) == []


# --- resuming --------------------------------------------------------------------------------------------


async def _interrupted(http: httpx2.AsyncClient, url: str, directory: Path) -> int:
    """Run the first, failing call; return the size of the part file it kept."""
    with pytest.raises(DownloadFailed) as failed:
        await fetch(http, url, directory)
    assert "resume" in str(failed.value).lower(), str(failed.value)
    assert not (directory / NAME).exists()
    part = part_of(directory)
    assert files(directory) == [part.name]
    size = part.stat().st_size
    assert BIG.startswith(part.read_bytes())
    return size


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
async def test_cut_off_download_resumes(http: httpx2.AsyncClient, host: Host, tmp_path: Path, chunked: bool) -> None:
    url = host.serve("/v.mp4", Plan(cut_at=CUT, chunked=chunked), Plan(chunked=chunked))
    kept = await _interrupted(http, url, tmp_path)
    assert kept == CUT
    seen: list[tuple[int, int | None]] = []
    path = await fetch(http, url, tmp_path, progress=lambda received, total: seen.append((received, total)))
    assert path.read_bytes() == BIG
    assert files(tmp_path) == [NAME]
    second = host.hits("/v.mp4")[1]
    assert second.headers["range"] == f"bytes={kept}-"
    assert second.status == 206 and second.sent == len(BIG) - kept
    assert seen[0][0] > kept and seen[-1] == (len(BIG), len(BIG))


async def test_every_byte_received_before_a_cut_off_is_kept(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path
) -> None:
    url = host.serve("/v.mp4", Plan(cut_at=400_000), Plan())  # less than one 1 MiB chunk
    assert await _interrupted(http, url, tmp_path) == 400_000
    path = await fetch(http, url, tmp_path)
    assert path.read_bytes() == BIG
    assert host.hits("/v.mp4")[1].headers["range"] == "bytes=400000-"


async def test_read_timeout_keeps_the_part_and_resumes(host: Host, tmp_path: Path) -> None:
    url = host.serve("/v.mp4", Plan(stall_at=CUT), Plan())
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(5.0, read=0.5)) as http:
        kept = await _interrupted(http, url, tmp_path)
        assert kept == CUT
        path = await fetch(http, url, tmp_path)
    assert path.read_bytes() == BIG
    assert host.hits("/v.mp4")[1].headers["range"] == f"bytes={kept}-"


async def test_cancelled_download_keeps_the_part(http: httpx2.AsyncClient, host: Host, tmp_path: Path) -> None:
    url = host.serve("/v.mp4", Plan(stall_at=CUT), Plan())
    with anyio.move_on_after(1.5) as scope:
        await download(http, url, tmp_path, NAME, allow_private=True)
    assert scope.cancelled_caught
    assert files(tmp_path) == [part_of(tmp_path).name]
    assert BIG.startswith(part_of(tmp_path).read_bytes())
    path = await fetch(http, url, tmp_path)
    assert path.read_bytes() == BIG


@pytest.mark.parametrize(
    ("answer", "requests"),
    [
        (Plan(ranges=False), 2),  # a 200 to a Range request: its body is the whole video
        (Plan(status=416, content_type="text/plain", body=b""), 3),
        (Plan(content_range="bytes 0-2999999/3000000"), 3),
    ],
    ids=["range-ignored", "416", "wrong-content-range"],
)
async def test_refused_resume_restarts_from_zero(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path, answer: Plan, requests: int
) -> None:
    url = host.serve("/v.mp4", Plan(cut_at=CUT), answer, Plan())
    kept = await _interrupted(http, url, tmp_path)
    path = await fetch(http, url, tmp_path)
    assert path.read_bytes() == BIG
    assert files(tmp_path) == [NAME]
    hits = host.hits("/v.mp4")
    assert len(hits) == requests
    assert hits[1].headers["range"] == f"bytes={kept}-"
    if requests == 3:  # the refused resume needs a fresh request from byte 0
        assert "range" not in hits[2].headers


async def test_expired_link_keeps_the_part_for_a_fresh_link(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path
) -> None:
    old = host.serve("/old.mp4", Plan(cut_at=CUT), Plan(status=403, content_type="application/xml", body=b"<E/>"))
    kept = await _interrupted(http, old, tmp_path)
    with pytest.raises(LinkExpired):
        await fetch(http, old, tmp_path)
    assert part_of(tmp_path).stat().st_size == kept
    path = await fetch(http, host.serve("/fresh.mp4"), tmp_path)
    assert path.read_bytes() == BIG
    assert host.hits("/fresh.mp4")[0].headers["range"] == f"bytes={kept}-"


@pytest.mark.parametrize(
    ("answer", "options"),
    [
        (Plan(content_type="text/html", body=b"<html>Sign in</html>", ranges=False), {}),
        (Plan(body=BIG + struct.pack(">I4s", 64, b"junk")), {}),  # a last box that claims more than is there
        (Plan(), {"max_bytes": 2_000_000}),
    ],
    ids=["html", "bad-boxes", "over-the-cap"],
)
async def test_wrong_content_deletes_the_part(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path, answer: Plan, options: dict[str, Any]
) -> None:
    url = host.serve("/v.mp4", Plan(cut_at=CUT), answer)
    await _interrupted(http, url, tmp_path)
    with pytest.raises(DownloadFailed) as failed:
        await fetch(http, url, tmp_path, **options)
    assert "nothing was saved" in str(failed.value).lower()
    assert files(tmp_path) == []


async def test_concurrent_downloads_of_one_target_do_not_mix(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path
) -> None:
    part_of(tmp_path).write_bytes(BIG[:CUT])  # left by an earlier, interrupted call
    url = host.serve("/v.mp4", Plan(pace=0.005))
    paths: list[Path] = []

    async def one() -> None:
        paths.append(await fetch(http, url, tmp_path))

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        tg.start_soon(one)
    assert sorted(p.name for p in paths) == ["clip-2.mp4", NAME]
    for path in paths:
        assert path.read_bytes() == BIG
    assert files(tmp_path) == ["clip-2.mp4", NAME]
    ranges = sorted(hit.headers.get("range", "") for hit in host.log)
    assert ranges == ["", f"bytes={CUT}-"]  # one resumed the part, the other used a private file


@pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")
async def test_part_locked_by_another_process_is_left_alone(
    http: httpx2.AsyncClient, host: Host, tmp_path: Path
) -> None:
    import fcntl

    part = part_of(tmp_path)
    part.write_bytes(BIG[:CUT])
    url = host.serve("/v.mp4")
    with part.open("rb") as other:  # another process downloading the same target holds this lock
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = await fetch(http, url, tmp_path)
    assert path.read_bytes() == BIG
    assert part.read_bytes() == BIG[:CUT]
    assert "range" not in host.hits("/v.mp4")[0].headers
    assert files(tmp_path) == [part.name, NAME]
