"""download_video: keep a finished video on this computer, where the user chooses."""

from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from heygen_video_mcp.tools.answer import answer
from heygen_video_mcp.tools.calls import AppState, ExecutionId, links, state
from heygen_video_mcp.tools.errors import InvalidInput
from heygen_video_mcp.tools.results import VideoAnswer, job_answer

DESCRIPTION = """Save a completed HeyGen video as an MP4 on this computer and return its absolute path.
Finished videos are already saved automatically into the output folder; use this to save a copy elsewhere
or under a chosen name, or to retry a save that failed (it resumes). Existing files are never overwritten (a
number is added to the name). A large video may take longer than one call: then this answers saving=true and
the save goes on; call check_status later for the path. HeyGen's video URLs expire, so save soon."""


async def download_video(
    ctx: Context[AppState, Any],
    execution_id: ExecutionId,
    directory: Annotated[
        str | None,
        Field(
            description="Folder to save into, created if missing. A relative path is inside the output folder "
            "(and may not leave it); an absolute path is used as given. Omit for the output folder itself."
        ),
    ] = None,
    filename: Annotated[
        str | None,
        Field(description="Plain file name such as 'coffee-shop.mp4' (no folders). Omit for a generated name."),
    ] = None,
) -> Annotated[CallToolResult, VideoAnswer]:
    app = state(ctx)

    async def work() -> CallToolResult:
        caller = links(ctx)
        if caller is not None and directory and Path(directory).expanduser().is_absolute():
            # A remote caller's folder is on the server: it may not write anywhere else there.
            raise InvalidInput(
                f"directory {directory[:80]!r} is a path on the server, outside your videos folder there. Give a "
                "folder inside it (like 'client-work/march'), or omit directory; the result links to the video."
            )
        job = await app.jobs.save(execution_id, Path(directory) if directory else None, filename)
        return job_answer(job, saving=app.jobs.saving(job), links=caller)

    return await answer(
        work,
        action="download_video",
        seconds=app.call_seconds,
        execution_id=execution_id,
        remote=links(ctx) is not None,
    )


def register(server: MCPServer[AppState]) -> None:
    server.add_tool(
        download_video,
        title="Download a video",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            title="Download a video",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
