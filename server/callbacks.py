"""HeyGen's completion callbacks (remote mode with HEYGEN_MCP_PUBLIC_URL): POST {public}/heygen/callbacks/{id}.

A Video Agent job's POST carries this URL with an unguessable id recorded in the library beforehand
(tools/jobs/submitting.py). HeyGen does not sign per-request callbacks, so the id is the only credential and the
body is never read: a known id notes the time in the library, whichever replica it lands on, and a wait on the
job (on any replica) reads HeyGen at once (tools/jobs/following/reads.py). An unknown id is a 404 that changes
nothing. The answer is one library write, well inside the 10 s HeyGen allows."""

from __future__ import annotations

import logging
import re
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from heygen_video_mcp.server.runtime import CALLBACK_PATH
from heygen_video_mcp.tools import errors
from heygen_video_mcp.tools.library import Library

logger = logging.getLogger(__name__)

# The ids tools/jobs/submitting.py makes: 43 URL-safe characters. Anything else is not looked up.
CALLBACK_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{43}")


def callback_route(library: Library) -> Route:
    async def called_back(request: Request) -> Response:
        callback_id = request.path_params["callback_id"]
        try:
            known = CALLBACK_ID_RE.fullmatch(callback_id) is not None and await library.called_back(callback_id)
        except errors.LibraryError as exc:  # HeyGen retries a failed delivery: say so, and it comes again
            logger.warning("A HeyGen callback could not be noted: %s", exc)
            return JSONResponse({"error": "try again later"}, status_code=503)
        if not known:
            return JSONResponse({"error": "unknown callback"}, status_code=404)
        return JSONResponse({"ok": True})

    return Route(CALLBACK_PATH + "{callback_id}", called_back, methods=["POST"])
