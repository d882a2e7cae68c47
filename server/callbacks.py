"""HeyGen's completion callbacks (remote mode with HEYGEN_MCP_PUBLIC_URL): POST {public}/heygen/callbacks/{id}.

A Video Agent job's POST carries this URL with an unguessable id recorded in the library beforehand
(tools/jobs/submitting.py). HeyGen does not sign per-request callbacks, so the id is the only credential and the
body is never read. A known id notes the time in the library, whichever replica it lands on, and is answered at
once (one library write, well inside the 10 s HeyGen allows); then, after the answer, this replica reads the job's
status from HeyGen, as check_status would (a finished video starts saving), and a wait on the job on any replica
sees the result or reads at once itself (tools/jobs/following/reads.py). An unknown id is a 404 that changes
nothing."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Final

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from heygen_video_mcp.server.runtime import CALLBACK_PATH
from heygen_video_mcp.tools import errors
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.status import UNFINISHED
from heygen_video_mcp.tools.tenancy import Tenants

logger = logging.getLogger(__name__)

# The ids tools/jobs/submitting.py makes: 43 URL-safe characters. Anything else is not looked up.
CALLBACK_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass
class Callbacks:
    library: Library
    tenants: Tenants | None = None  # the running job logic, set by the server's lifespan (server/app.py)

    def route(self) -> Route:
        return Route(CALLBACK_PATH + "{callback_id}", self._called_back, methods=["POST"])

    async def _called_back(self, request: Request) -> Response:
        callback_id = request.path_params["callback_id"]
        try:
            job = await self.library.called_back(callback_id) if CALLBACK_ID_RE.fullmatch(callback_id) else None
        except errors.LibraryError as exc:  # HeyGen retries a failed delivery: say so, and it comes again
            logger.warning("A HeyGen callback could not be noted: %s", exc)
            return JSONResponse({"error": "try again later"}, status_code=503)
        if job is None:
            return JSONResponse({"error": "unknown callback"}, status_code=404)
        return JSONResponse({"ok": True}, background=BackgroundTask(self._read, *job))

    async def _read(self, tenant: str, execution_id: str) -> None:
        """The status read the callback asks for, with the tenant's own job logic (its key, its library)."""
        if self.tenants is None:
            return
        jobs = self.tenants.jobs(tenant)
        try:
            known = await jobs.library.get(execution_id=execution_id)
            if known is None or known.status in UNFINISHED:  # a wait may have read it already
                await jobs.check(execution_id)
        except errors.HeyGenError as exc:  # a wait, or the next safety read, tries again
            logger.info("Reading %s after HeyGen's callback failed: %s", execution_id, exc)
