"""Saving a finished video: streamed into a part file beside the target, checked, published only when whole.

A download cut off part-way keeps its part file, `.<filename>.part`, and the next call for the same target
asks the host for the rest (Range). Bytes that are not the video are never kept.
"""

from __future__ import annotations

import errno
import re
import unicodedata
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Final
from urllib.parse import urljoin, urlsplit

import anyio
import httpx2

from heygen_video_mcp.tools import mp4check
from heygen_video_mcp.tools.errors import DownloadFailed, InvalidInput, LinkExpired
from heygen_video_mcp.tools.partfile import PartFile, Writer, publish
from heygen_video_mcp.tools.publichost import check_url, refuse_private

DEFAULT_MAX_BYTES: Final = 2 * 1024**3
CHUNK: Final = 1024 * 1024
_MAX_REDIRECTS: Final = 5
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
# Pre-signed storage links answer these once they have expired.
_EXPIRED: Final = frozenset({401, 403, 404, 410})
_VIDEO_TYPES: Final = ("video/", "application/octet-stream", "binary/octet-stream")
_CONTENT_RANGE: Final = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")

Progress = Callable[[int, int | None], None]
"""Called with the bytes of the file so far and its final size, when the host said it."""


def default_filename(created_at: float, prompt: str, execution_id: str) -> str:
    """Readable and unique: date, a slug of the prompt, the execution id (a Video Agent id's ':' made '-',
    which some file systems refuse)."""
    day = datetime.fromtimestamp(created_at).strftime("%Y-%m-%d")
    slug = _slug(prompt)[:48].rstrip("-") or "video"
    return f"{day}_{slug}_{execution_id.replace(':', '-')}.mp4"


def clean_filename(name: str) -> str:
    """A caller's file name, kept to one plain name inside the target directory."""
    if "/" in name or "\\" in name or name.strip() in ("", ".", "..") or name.startswith("~"):
        raise InvalidInput(
            f"filename {name[:60]!r} must be a plain file name such as 'coffee-shop.mp4': no folders, '..' "
            "or absolute paths.",
            advice="Use `directory` to choose the folder.",
        )
    stem = name[:-4] if name.lower().endswith(".mp4") else name
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", unicodedata.normalize("NFKD", stem)).strip(" .")[:120]
    return f"{cleaned or 'video'}.mp4"


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


async def download(
    http: httpx2.AsyncClient,
    url: str,
    directory: Path,
    filename: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allow_private: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Fetch `url` into `directory/filename` (or a numbered variant: nothing is ever overwritten).

    The URL is a pre-signed link on a storage host, so no API key is sent. Redirects are followed here (at
    most five) and, unless `allow_private`, no hop may lead to a private, local or reserved address. Raises
    DownloadFailed (LinkExpired for a dead link); then nothing exists under the final name, and the part file
    is kept, for the next call to resume, only if what arrived is a sound start of the video.
    """
    check_url(url, "The video link is")
    if not allow_private:
        await refuse_private(url)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadFailed(f"Cannot create the folder {directory}: {exc.strerror}.") from None
    try:
        part = PartFile(directory, filename)
    except OSError as exc:
        raise DownloadFailed(f"Cannot write to {directory}: {exc.strerror}.") from None
    try:
        await _fill(http, url, part, max_bytes, allow_private, progress)
        part.keep = False  # whole and checked: nothing to resume even if publishing fails
        return publish(part.path, directory / filename)
    except (httpx2.HTTPError, OSError, DownloadFailed) as exc:
        raise _failure(exc, part) from None
    finally:
        part.close()


async def _fill(
    http: httpx2.AsyncClient, url: str, part: PartFile, max_bytes: int, allow_private: bool, progress: Progress | None
) -> None:
    """Write the whole video into `part`, resuming what an earlier call left there when the host allows."""
    while True:
        offset = part.size()
        async with _get(http, url, offset, allow_private) as response:
            start = _start(response, offset)
            if start is None:  # the host refused to resume: start again from byte 0, with a new request
                part.truncate()
                continue
            _check_response(response, part)
            if start < offset:
                part.truncate()
            total = _total(response, start)
            if total is not None and total > max_bytes:
                raise part.wrong(
                    f"The video is {total:,} bytes, more than the {max_bytes:,} byte limit set by "
                    "HEYGEN_MAX_VIDEO_BYTES, so it was not downloaded and nothing was saved. To save it, raise "
                    "HEYGEN_MAX_VIDEO_BYTES in this server's environment and try again."
                )
            await _stream(response, part, start, total, max_bytes, progress)
            break
    try:
        await anyio.to_thread.run_sync(mp4check.check, part.path)
    except mp4check.Truncated as exc:
        if total is None:  # without a length, a dropped connection looks like the end of the body
            raise DownloadFailed(f"The video download ended early: the file is cut off ({exc}). Try again.") from None
        raise part.wrong(_damaged(str(exc))) from None
    except mp4check.Malformed as exc:
        raise part.wrong(_damaged(str(exc))) from None


@asynccontextmanager
async def _get(http: httpx2.AsyncClient, url: str, offset: int, allow_private: bool) -> AsyncIterator[httpx2.Response]:
    """GET `url`, following redirects here so that each hop's host is checked before it is contacted."""
    headers = {"Accept-Encoding": "identity"}  # Range offsets count bytes of the file itself
    if offset:
        headers["Range"] = f"bytes={offset}-"
    for _ in range(_MAX_REDIRECTS + 1):
        try:
            request = http.build_request("GET", url, headers=headers)
        except httpx2.InvalidURL:
            raise DownloadFailed(f"The video link {url[:60]!r} is not a valid URL; nothing was downloaded.") from None
        response = await http.send(request, stream=True, follow_redirects=False)
        location = response.headers.get("location")
        if response.status_code not in _REDIRECTS or location is None:
            break
        await response.aclose()
        try:
            url = urljoin(url, location)
        except ValueError:  # a malformed Location, which check_url refuses
            url = location
        check_url(url, "The video link redirected to")
        if not allow_private:
            await refuse_private(url, redirected=True)
    else:
        raise DownloadFailed(
            f"The video link redirected more than {_MAX_REDIRECTS} times (last to {urlsplit(url).hostname}), so the "
            "download was stopped. Try again later; if it keeps happening, the storage host is misconfigured: "
            "download the video from your HeyGen library instead."
        )
    try:
        yield response
    finally:
        await response.aclose()


def _start(response: httpx2.Response, offset: int) -> int | None:
    """Where the body belongs in the file: 0, or `offset` when the host resumes; None if it refused to."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if match and int(match[1]) == offset:
            return offset
        if offset:
            return None
        raise DownloadFailed(
            "The video host answered with only part of the video "
            f"(Content-Range {response.headers.get('content-range')!r}) when asked for all of it. Try again later."
        )
    return None if response.status_code == 416 and offset else 0


def _check_response(response: httpx2.Response, part: PartFile) -> None:
    if response.status_code in _EXPIRED:
        raise LinkExpired(
            f"The video URL no longer works (HTTP {response.status_code}): HeyGen's output links are temporary "
            "and this one has expired. A fresh link from HeyGen is needed."
        )
    if response.status_code not in (200, 206):
        raise DownloadFailed(f"The video host answered HTTP {response.status_code}. Try again later.")
    content_type = response.headers.get("content-type", "").lower()
    if not content_type.startswith(_VIDEO_TYPES):
        raise part.wrong(
            f"The video URL returned {content_type or 'no content type'} instead of a video; nothing was saved."
        )


def _total(response: httpx2.Response, start: int) -> int | None:
    """The size the finished file will have, if the host says."""
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return None  # the length counts compressed bytes
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    if response.status_code == 206 and match and match[2].isdigit():
        return int(match[2])
    length = response.headers.get("content-length", "")
    return start + int(length) if length.isdigit() else None


async def _stream(
    response: httpx2.Response, part: PartFile, start: int, total: int | None, max_bytes: int, progress: Progress | None
) -> None:
    received = start
    writer = Writer(part.file)
    try:
        async with aclosing(_chunks(response)) as chunks:
            async for chunk in chunks:
                if received == 0 and len(chunk) >= 8 and chunk[4:8] != b"ftyp":
                    raise part.wrong("The video URL returned something that is not an MP4; nothing was saved.")
                received += len(chunk)
                if received > max_bytes:
                    raise part.wrong(
                        f"The video passed the {max_bytes:,} byte limit set by HEYGEN_MAX_VIDEO_BYTES (the host did "
                        "not say its size in advance), so the download was stopped and nothing was saved. To save it, "
                        "raise HEYGEN_MAX_VIDEO_BYTES in this server's environment and try again."
                    )
                await writer.write(chunk)
                if progress is not None:
                    progress(received, total)
    finally:
        await writer.close()
    if writer.error is not None:
        raise writer.error
    if total is not None and received < total:
        raise DownloadFailed(f"The video download stopped after {received:,} of {total:,} bytes. Try again.")
    if total is not None and received > total:
        raise part.wrong(f"The video host sent more than the {total:,} bytes it announced; nothing was saved.")


async def _chunks(response: httpx2.Response) -> AsyncGenerator[bytes, None]:
    """The body in pieces of about CHUNK bytes, each joined once from the network's reads: httpx2's own
    chunking (aiter_bytes(CHUNK)) copies every byte two or three times, which costs more than the disk."""
    identity = response.headers.get("content-encoding", "identity").lower() == "identity"
    pieces: list[bytes] = []
    size = 0
    try:
        async for data in response.aiter_raw() if identity else response.aiter_bytes():
            pieces.append(data)
            size += len(data)
            if size >= CHUNK:
                yield b"".join(pieces)
                pieces, size = [], 0
    except httpx2.HTTPError:
        if pieces:
            yield b"".join(pieces)  # every byte that arrived is kept, for the next call to resume from
        raise
    if pieces:
        yield b"".join(pieces)


def _damaged(problem: str) -> str:
    return (
        f"The video host sent a file that is not a whole MP4 ({problem}); it was deleted and nothing was saved. "
        "Try again; if this keeps happening, download the video from your HeyGen library."
    )


def _failure(exc: httpx2.HTTPError | OSError | DownloadFailed, part: PartFile) -> DownloadFailed:
    """The error a user reads: what went wrong, what to do, and whether trying again resumes."""
    if isinstance(exc, DownloadFailed):
        failure = exc
    elif isinstance(exc, httpx2.HTTPError):
        failure = DownloadFailed(f"The video download failed: {_why(exc)}. Try again.")
    elif exc.errno == errno.ENOSPC:
        failure = DownloadFailed(f"The disk holding {part.path.parent} is full; free some space and try again.")
    else:
        failure = DownloadFailed(f"Cannot write to {part.path.parent}: {exc.strerror}.")
    kept = part.kept()
    if not kept:
        return failure
    return type(failure)(
        f"{failure} The {kept:,} bytes received so far are kept (in {part.path.name}), so the next try resumes "
        "from there."
    )


def _why(exc: httpx2.HTTPError) -> str:
    if isinstance(exc, httpx2.ConnectTimeout):
        return "the video host did not accept a connection in time"
    if isinstance(exc, httpx2.TimeoutException):
        return "the video host stopped sending data (timed out)"
    if isinstance(exc, httpx2.ConnectError):
        return f"cannot connect to the video host ({exc})"
    if isinstance(exc, httpx2.RemoteProtocolError):
        return "the connection was cut off before the video was complete"
    return f"{type(exc).__name__}: {exc}"
