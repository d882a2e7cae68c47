"""The file a download writes before it is whole: its lock, its writer thread, and publishing it."""

from __future__ import annotations

import errno
import os
import queue
import secrets
import stat
import sys
import threading
from pathlib import Path
from typing import BinaryIO, Final

import anyio

from heygen_video_mcp.tools.errors import DownloadFailed

# Chunks waiting for the writer thread: enough to ride out a slow write, few enough to bound memory.
QUEUED: Final = 3
_NO_HARD_LINKS: Final = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.ENOSYS})

# Part files this process is writing. Two downloads must never write into one part file, so it is locked:
# by this set within the process, and by flock across processes (a flock dies with its process, so a crash
# cannot leave a stale lock behind the way a lock file would). Not an exclusive create, because the part
# file must outlive a failed call for the next one to resume it. A download that finds the part file taken
# writes a private one instead, deleted when it ends: both downloads finish, under two names.
_WRITING: set[Path] = set()


class PartFile:
    """`.<filename>.part` beside the target, kept between calls so a download can resume."""

    def __init__(self, directory: Path, filename: str) -> None:
        self.keep = True  # kept for resuming unless the download succeeds or proves to be the wrong bytes
        self.path = directory.resolve() / f".{filename}.part"
        file = None if self.path in _WRITING else _open_locked(self.path)
        self.shared = file is not None
        if file is None:
            self.path = self.path.with_name(f".{filename}.{secrets.token_hex(4)}.part")
            file = _open(self.path, os.O_CREAT | os.O_EXCL)
        self.file: BinaryIO = file
        _WRITING.add(self.path)

    def size(self) -> int:
        return os.fstat(self.file.fileno()).st_size

    def truncate(self) -> None:
        self.file.truncate(0)

    def wrong(self, message: str) -> DownloadFailed:
        """These bytes are not the video: they must not be resumed."""
        self.keep = False
        return DownloadFailed(message)

    def kept(self) -> int:
        """The bytes this part file keeps for the next call, or 0 when it is to be deleted."""
        return self.size() if self.keep and self.shared else 0

    def ours(self, path: Path) -> bool:
        """Whether `path` is this very file, not a link or another file put there since."""
        try:
            return os.path.samestat(os.lstat(path), os.fstat(self.file.fileno()))
        except FileNotFoundError:
            return False

    def close(self) -> None:
        doomed = not self.kept()
        if doomed and os.name != "nt":
            self.path.unlink(missing_ok=True)  # while still locked: no other process can take it up meanwhile
        self.file.close()
        if doomed:
            self.path.unlink(missing_ok=True)  # Windows cannot delete an open file
        _WRITING.discard(self.path)


def _open_locked(path: Path) -> BinaryIO | None:
    """`path` opened to append, locked against other processes; None if another download holds it."""
    try:
        file = _open(path, os.O_CREAT | os.O_EXCL)
    except FileExistsError:  # an earlier call's part file, to resume
        file = _open(path, 0)
    try:
        # The file must still be the one at `path`: the holder may have published and removed it meanwhile.
        if _lock(file.fileno()) and os.path.samestat(os.fstat(file.fileno()), os.stat(path)):
            return file
    except FileNotFoundError:
        pass
    file.close()
    return None


def _open(path: Path, flags: int) -> BinaryIO:
    """`path` opened to append without following a symbolic link: a link (or a second hard link, or a FIFO)
    planted at the part file's name would have the video written into whatever it points at. Such a file
    is left untouched and refused."""
    # O_NONBLOCK: opening a planted FIFO would otherwise wait for a reader; regular files ignore it.
    no_follow = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | no_follow | flags, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO) or os.path.islink(path):
            raise DownloadFailed(_not_ours(path)) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise DownloadFailed(_not_ours(path))
    return os.fdopen(fd, "ab")


def _not_ours(path: Path) -> str:
    return (
        f"{path.name}, where the download writes its partial file, is a symbolic link or another file that is "
        "not a partial download, so it was left untouched and nothing was saved. Remove it (or choose another "
        "filename) and try again."
    )


if sys.platform == "win32":

    def _lock(fd: int) -> bool:
        return True  # no flock: only _WRITING guards the part file, within this process

else:
    import fcntl

    def _lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another process is writing it
        except OSError:
            return True  # a file system without locks: only _WRITING guards the part file
        return True


class Writer:
    """Writes the chunks in one thread while the event loop receives the next ones, so disk and network
    overlap; the bounded queue keeps memory at a few chunks whatever the size of the video."""

    def __init__(self, file: BinaryIO) -> None:
        self.error: OSError | None = None
        self._file = file
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUED)
        self._thread = threading.Thread(target=self._run, name="video-writer", daemon=True)
        self._thread.start()

    async def write(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        try:
            self._queue.put_nowait(chunk)
        except queue.Full:  # the disk is behind the network: wait for it off the event loop
            await anyio.to_thread.run_sync(self._queue.put, chunk)

    async def close(self) -> None:
        """Write what is queued, flush and fsync, end the thread. Raises nothing, so as not to replace an
        exception on its way out (a cancellation above all): `error` holds the first failure."""
        with anyio.CancelScope(shield=True):  # the thread must be done before the file is used again
            await anyio.to_thread.run_sync(self._stop)

    def _stop(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        # After a failed write keep taking chunks (and dropping them), so that a put never waits forever.
        while (chunk := self._queue.get()) is not None:
            if self.error is None:
                try:
                    self._file.write(chunk)
                except OSError as exc:
                    self.error = exc
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            self.error = self.error or exc


def publish(part: PartFile, target: Path) -> Path:
    """Give the finished file its name without ever replacing an existing file, nor publishing anything but
    the file written (a link swapped in at the part file's name meanwhile is refused)."""
    for n in range(1, 1000):
        candidate = target if n == 1 else target.with_stem(f"{target.stem}-{n}")
        if not part.ours(part.path):
            raise DownloadFailed(_not_ours(part.path))
        try:
            _claim(part.path, candidate)
        except FileExistsError:
            continue
        except OSError as exc:
            raise DownloadFailed(f"Cannot save into {target.parent}: {exc.strerror}.") from None
        if not part.ours(candidate):  # swapped between the check and the link: take back what was linked
            candidate.unlink(missing_ok=True)
            raise DownloadFailed(_not_ours(part.path))
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
