"""HeyGen APIs known to be retired, per API base URL: HeyGen's fact, not a tenant's, so every tenant sees it."""

from __future__ import annotations

from dataclasses import dataclass

from heygen_video_mcp.tools.library.common import Connection


@dataclass(frozen=True)
class Retirement:
    api: str  # a routes.Backend: "executions"
    message: str  # what HeyGen's answer was, in our words
    retired_at: float


def remember(db: Connection, base_url: str, retirement: Retirement) -> None:
    """The first word stays: a later answer saying the same changes nothing."""
    db.execute(
        "INSERT INTO retired_apis (base_url, api, message, retired_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (base_url, api) DO NOTHING",
        (base_url, retirement.api, retirement.message, retirement.retired_at),
    )


def known(db: Connection, base_url: str) -> list[Retirement]:
    rows = db.execute("SELECT api, message, retired_at FROM retired_apis WHERE base_url = ?", (base_url,)).fetchall()
    return [Retirement(row["api"], row["message"], row["retired_at"]) for row in rows]
