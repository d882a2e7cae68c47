"""MCP Tasks as the library keeps them: which jobs a task follows, and whether it was cancelled. Everything
else a task says (working, saving, completed) is its jobs' state, so any replica answers for it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from heygen_video_mcp.tools.library.common import Connection, Row


@dataclass(frozen=True)
class TaskRecord:
    task_id: str
    tool: str
    execution_ids: tuple[str, ...]
    created_at: float
    cancelled_at: float | None = None
    # The tool's result, for a task that ended at its submission (it follows no job).
    ended: dict[str, Any] | None = None
    # The tool call's arguments, while the task waits for the user's consent to send them (nothing is sent yet).
    pending: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Row) -> TaskRecord:
        return cls(
            task_id=row["task_id"],
            tool=row["tool"],
            execution_ids=tuple(json.loads(row["execution_ids"])),
            created_at=row["created_at"],
            cancelled_at=row["cancelled_at"],
            ended=json.loads(row["result"]) if row["result"] else None,
            pending=json.loads(row["pending"]) if row["pending"] else None,
        )


def insert(db: Connection, tenant: str, task: TaskRecord) -> None:
    db.execute(
        "INSERT INTO tasks (task_id, tenant, tool, execution_ids, created_at, result, pending) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            task.task_id,
            tenant,
            task.tool,
            json.dumps(list(task.execution_ids)),
            task.created_at,
            None if task.ended is None else json.dumps(task.ended),
            None if task.pending is None else json.dumps(task.pending),
        ),
    )


def find(db: Connection, tenant: str, task_id: str) -> TaskRecord | None:
    """The task if it is this tenant's: another tenant's id is as unknown as a made-up one."""
    row = db.execute("SELECT * FROM tasks WHERE task_id = ? AND tenant = ?", (task_id, tenant)).fetchone()
    return None if row is None else TaskRecord.from_row(row)


def cancel(db: Connection, tenant: str, task_id: str, at: float) -> None:
    """A held call is dropped with it: once cancelled, it can no longer be accepted."""
    db.execute(
        "UPDATE tasks SET cancelled_at = coalesce(cancelled_at, ?), pending = NULL WHERE task_id = ? AND tenant = ?",
        (at, task_id, tenant),
    )


def claim(db: Connection, tenant: str, task_id: str) -> dict[str, Any] | None:
    """The held call's arguments, taken off the task so that only one answer (on any replica) sends them;
    None when nothing is held (already accepted, declined or cancelled)."""
    task = find(db, tenant, task_id)
    if task is None or task.pending is None or task.cancelled_at is not None:
        return None
    taken = db.execute(
        "UPDATE tasks SET pending = NULL "
        "WHERE task_id = ? AND tenant = ? AND pending IS NOT NULL AND cancelled_at IS NULL",
        (task_id, tenant),
    )
    return task.pending if taken.rowcount == 1 else None


def submitted(
    db: Connection, tenant: str, task_id: str, execution_ids: list[str], ended: dict[str, Any] | None
) -> None:
    """What an accepted call started (or, when it started nothing, its tool result)."""
    db.execute(
        "UPDATE tasks SET execution_ids = ?, result = ? WHERE task_id = ? AND tenant = ?",
        (json.dumps(execution_ids), None if ended is None else json.dumps(ended), task_id, tenant),
    )


def page(db: Connection, tenant: str, since: float, after: tuple[float, str] | None, limit: int) -> list[TaskRecord]:
    """This tenant's tasks created after `since`, newest first, from just after `after` (a page's last task's
    created_at and id) on."""
    sql = "SELECT * FROM tasks WHERE tenant = ? AND created_at > ?"
    args: list[object] = [tenant, since]
    if after is not None:
        sql += " AND (created_at < ? OR (created_at = ? AND task_id < ?))"
        args += [after[0], after[0], after[1]]
    rows = db.execute(sql + " ORDER BY created_at DESC, task_id DESC LIMIT ?", (*args, limit)).fetchall()
    return [TaskRecord.from_row(row) for row in rows]
