"""What the library's operations and its two stores (SQLite, PostgreSQL) share: reading a job record, the
submission lease, and the small interface an operation sees of a database connection."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final, Protocol, TypeVar

from heygen_video_mcp.tools.errors import LibraryError
from heygen_video_mcp.tools.status import Job

T = TypeVar("T")

# A submission in flight is vouched for by its process: `submit_owner` names it (host, boot, pid), and it
# renews `updated_at` every SUBMIT_HEARTBEAT_SECONDS until HeyGen's answer is recorded. A `submitting` row
# whose owner is gone from this machine, or whose heartbeat stopped SUBMIT_LEASE_SECONDS ago (its process
# died elsewhere), can no longer be answered: it becomes submit_uncertain.
SUBMIT_LEASE_SECONDS: Final = 30.0
SUBMIT_HEARTBEAT_SECONDS: Final = 5.0
ABANDONED: Final = "the server that sent it stopped before HeyGen's answer came back"


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as file:  # Linux: which boot of this machine
            return file.read().strip()
    except OSError:
        return ""


_MACHINE: Final = f"{socket.gethostname()}/{_boot_id()}"


def submit_owner() -> str:
    """This process, as a submission's owner: host/boot/pid."""
    return f"{_MACHINE}/{os.getpid()}"


def abandoned(owner: str | None, updated_at: float, now: float) -> bool:
    """Whether a `submitting` row's process can no longer record HeyGen's answer. Whether a process is alive
    is known only on its own machine (and boot); elsewhere, and for a pid reused since, the lease decides."""
    if now - updated_at > SUBMIT_LEASE_SECONDS:
        return True
    machine, _, pid = (owner or "").rpartition("/")
    if machine != _MACHINE or _MACHINE.endswith("/") or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # someone else's process: alive
    return False


class Row(Protocol):
    """A row read by column name: sqlite3.Row, or psycopg's dict row (which iterates its names, not values)."""

    def keys(self) -> Any: ...
    def __getitem__(self, key: str, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Sequence[Any]: ...


class Connection(Protocol):
    """What an operation uses of a connection. Statements use '?' placeholders on both databases, and run
    in one transaction that the store opened: a write one (`writing`) when the operation was started as a
    write, or after it asked for one with need_write()."""

    writing: bool

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...


Operation = Callable[[Connection], T]


class Store(Protocol):
    """Where the jobs are kept, shared by every tenant's view of the library."""

    @property
    def where(self) -> str:
        """The file or database, for messages (never with a password)."""

    @property
    def migrated(self) -> bool: ...
    def migrate(self) -> None: ...
    def close(self) -> None: ...
    async def run(self, fn: Operation[T], *, scope: str, write: bool = True, by_key: bool = False) -> T:
        """Run `fn` in one transaction, retried while the store is busy. Writes of one `scope` (a tenant) never
        interleave: each reads and decides under the same lock as it writes."""


class NeedsWrite(Exception):
    """A read found it must write (the store lacks our schema, or there is a change to record): the operation
    is run again as a write."""


def need_write(db: Connection) -> None:
    """Called before writing: in a read transaction, start over in a write one."""
    if not db.writing:
        raise NeedsWrite


def job_from_row(row: Row) -> Job:
    """A job from a row of the jobs table (a sqlite3.Row, or PostgreSQL's dict row). Its fields go to Job by
    position, picked by an order worked out once per set of columns: keyword arguments named by the row's
    own strings (not interned, so matched by comparison) cost Job() twice as much, on every status read."""
    names = tuple(row.keys())
    order = _ORDERS.get(names)
    if order is None:
        order = _ORDERS[names] = _order(names)
    values = tuple(row.values()) if isinstance(row, dict) else tuple(row)  # a dict row iterates its names
    args = [values[i] for i in order]
    args[_CONFIG] = json.loads(args[_CONFIG]) if args[_CONFIG] else None
    return Job(*args)


def _order(names: tuple[str, ...]) -> tuple[int, ...]:
    """Where each of Job's fields is among a row's columns (every read of a job selects them all)."""
    index = {name: i for i, name in enumerate(names)}
    return tuple(index[name] for name in _JOB_ORDER)


_JOB_ORDER: Final = tuple(field.name for field in fields(Job))
_CONFIG: Final = _JOB_ORDER.index("config")
_ORDERS: dict[tuple[str, ...], tuple[int, ...]] = {}  # one per query shape: a handful


@dataclass(frozen=True)
class Reservation:
    job: Job
    existing: bool  # True: an identical request was made within the window; nothing new was reserved


class BudgetUsed(LibraryError):
    """reserve() found the tenant's daily render budget used up, so it recorded nothing (a LibraryError only
    so that the store rolls back and keeps its connection; the job layer turns it into the caller's answer)."""


class Vanished(LibraryError):
    """A job this view was working on is no longer in the store (deleted and made again meanwhile)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"Job {job_id} is no longer in the video library.")
        self.job_id = job_id
