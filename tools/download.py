"""Saving a finished video: streamed to a temporary file beside the target, published only when whole."""

from __future__ import annotations

import errno
import os
import re
import secrets
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import anyio
import httpx2

from tools.errors import DownloadFailed, InvalidInput, LinkExpired

CHUNK: Final = 64 * 1024
# Pre-signed storage links answer these once they have expired.
_EXPIRED: Final = frozenset({401, 403, 404, 410})
_VIDEO_TYPES: Final = ("video/", "application/octet-stream", "binary/octet-stream")
_NO_HARD_LINKS: Final = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.ENOSYS})


def default_filename(created_at: float, prompt: str, execution_id: str) -> str:
    """Readable and unique: date, a slug of the prompt, the execution id."""
    day = datetime.fromtimestamp(created_at).strftime("%Y-%m-%d")
    slug = _slug(prompt)[:48].rstrip("-") or "video"
    return f"{day}_{slug}_{execution_id}.mp4"


def clean_filename(name: str) -> str:
    """A caller's file name, kept to one plain name inside the target directory."""
    if "/" in name or "\\" in name or name.strip() in ("", ".", "..") or name.startswith("~"):
        raise InvalidInput(
            f"filename {name[:60]!r} must be a plain file name such as 'coffee-shop.mp4': no folders, '..' "
            "or absolute paths. Use `directory` to choose the folder."
        )
    stem = name[:-4] if name.lower().endswith(".mp4") else name
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", unicodedata.normalize("NFKD", stem)).strip(" .")[:120]
    return f"{cleaned or 'video'}.mp4"


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


async def download(http: httpx2.AsyncClient, url: str, directory: Path, filename: str) -> Path:
    """Fetch `url` into `directory/filename` (or a numbered variant: nothing is ever overwritten).

    The URL is a pre-signed link on a storage host, so no API key is sent. Raises DownloadFailed; on any
    failure no file exists under the final name and the temporary file is removed.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise DownloadFailed(f"Refusing to download from a non-http(s) URL ({url[:40]!r}).")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadFailed(f"Cannot create the folder {directory}: {exc.strerror}.") from None
    part = directory / f".{filename}.{secrets.token_hex(4)}.part"
    try:
        async with http.stream("GET", url, follow_redirects=True) as response:
            _check_response(response)
            expected = response.headers.get("content-length")
            received = await _write(response, part)
        if expected is not None and expected.isdigit() and int(expected) != received:
            raise DownloadFailed(f"The download stopped after {received} of {expected} bytes. Try again.")
        return _publish(part, directory / filename)
    except httpx2.HTTPError as exc:
        raise DownloadFailed(
            f"The video download was interrupted ({type(exc).__name__}). Nothing was saved; try again."
        ) from None
    finally:
        part.unlink(missing_ok=True)


def _check_response(response: httpx2.Response) -> None:
    if response.status_code in _EXPIRED:
        raise LinkExpired(
            f"The video URL no longer works (HTTP {response.status_code}): HeyGen's output links are temporary "
            "and this one has expired."
        )
    if response.status_code != 200:
        raise DownloadFailed(f"The video host answered HTTP {response.status_code}. Try again later.")
    content_type = response.headers.get("content-type", "").lower()
    if not content_type.startswith(_VIDEO_TYPES):
        raise DownloadFailed(
            f"The video URL returned {content_type or 'no content type'} instead of a video; nothing was saved."
        )


async def _write(response: httpx2.Response, part: Path) -> int:
    received = 0
    try:
        async with await anyio.open_file(part, "xb") as out:
            async for chunk in response.aiter_bytes(CHUNK):
                if received == 0 and chunk[4:8] != b"ftyp" and len(chunk) >= 8:
                    raise DownloadFailed("The video URL returned something that is not an MP4; nothing was saved.")
                await out.write(chunk)
                received += len(chunk)
            await out.flush()
            await anyio.to_thread.run_sync(os.fsync, out.wrapped.fileno())
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DownloadFailed(f"The disk holding {part.parent} is full; free some space and try again.") from None
        raise DownloadFailed(f"Cannot write to {part.parent}: {exc.strerror}.") from None
    return received


def _publish(part: Path, target: Path) -> Path:
    """Give the finished file its name without ever replacing an existing file."""
    for n in range(1, 1000):
        candidate = target if n == 1 else target.with_stem(f"{target.stem}-{n}")
        try:
            _claim(part, candidate)
        except FileExistsError:
            continue
        except OSError as exc:
            raise DownloadFailed(f"Cannot save into {target.parent}: {exc.strerror}.") from None
        return candidate
    raise DownloadFailed(f"Too many files named like {target.name} in {target.parent}.")


def _claim(part: Path, candidate: Path) -> None:
    """Put `part` at `candidate`, raising FileExistsError rather than replacing a file."""
    try:
        os.link(part, candidate)  # atomic, and fails instead of overwriting
    except OSError as exc:
        if isinstance(exc, FileExistsError) or exc.errno not in _NO_HARD_LINKS:
            raise
        # FAT/exFAT and some network shares have no hard links: reserve the name, then move into it.
        with candidate.open("xb"):
            pass
        os.replace(part, candidate)
