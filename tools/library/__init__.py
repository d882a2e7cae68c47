"""The video library: every submission and what became of it, for each tenant, in SQLite (one file, the
default) or PostgreSQL (HEYGEN_DATABASE_URL, shared by replicas).

operations: the Library (one tenant's view) and its operations, written once for both stores;
sqlite / postgres: the stores; migrations: the schema, one list for both; common: what they share.
"""

from heygen_video_mcp.tools.errors import LibraryError
from heygen_video_mcp.tools.library.common import (
    SUBMIT_HEARTBEAT_SECONDS,
    SUBMIT_LEASE_SECONDS,
    BudgetUsed,
    Reservation,
)
from heygen_video_mcp.tools.library.migrations import MIGRATIONS, Dialects, script
from heygen_video_mcp.tools.library.operations import Library
from heygen_video_mcp.tools.library.retired import Retirement
from heygen_video_mcp.tools.library.tasks import TaskRecord

__all__ = [
    "MIGRATIONS",
    "SUBMIT_HEARTBEAT_SECONDS",
    "SUBMIT_LEASE_SECONDS",
    "BudgetUsed",
    "Dialects",
    "Library",
    "LibraryError",
    "Reservation",
    "Retirement",
    "TaskRecord",
    "script",
]
