"""Submitting a video: once per request within the duplicate window, and never lost once HeyGen may have it.

A submission outlives the call that started it once its first byte is on the wire: HeyGen may have made a
paid job, so its answer is read and recorded whatever happens to the caller (a caller that leaves before
that cancels it: nothing sent). A paid id the library cannot record yet is kept in memory and recorded later.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import replace
from typing import Final

import anyio
from anyio.abc import TaskGroup

from heygen_video_mcp.tools import credits, deadline, errors
from heygen_video_mcp.tools.client import HeyGenClient, Wire
from heygen_video_mcp.tools.jobs.retirements import Retirements
from heygen_video_mcp.tools.jobs.settings import JobSettings, Outcome
from heygen_video_mcp.tools.library import SUBMIT_HEARTBEAT_SECONDS, BudgetUsed, Library
from heygen_video_mcp.tools.request import VideoRequest, refuse_local_images
from heygen_video_mcp.tools.routes import VIDEO_AGENT
from heygen_video_mcp.tools.status import SUBMIT_FAILED, SUBMIT_UNCERTAIN, SUBMITTING, Execution, Job

logger = logging.getLogger(__name__)

# A callback id's randomness: 32 bytes, 43 URL-safe characters, the credential of a callback.
CALLBACK_ID_BYTES: Final = 32
# How often a call that found an identical request in flight looks for its execution id.
_IN_FLIGHT_POLL: Final = 0.1
# A paid execution id the library could not record is tried again this often, for this long, from memory.
_RECORD_PAUSE: Final = 1.0
_RECORD_SECONDS: Final = 900.0


class Submitting:
    def __init__(
        self, client: HeyGenClient, library: Library, settings: JobSettings, tasks: TaskGroup, retirements: Retirements
    ) -> None:
        self._client = client
        self._retirements = retirements
        self._library = library
        self._settings = settings
        self._tasks = tasks
        self._posting: set[anyio.Event] = set()  # each removed when its answer is in
        # Paid ids the library has not recorded yet (execution id -> job id and HeyGen's answer), kept until
        # a background retry records them.
        self._unrecorded: dict[str, tuple[int, Execution]] = {}

    @property
    def busy(self) -> bool:
        return bool(self._posting)

    async def submit(self, request: VideoRequest, *, allow_duplicate: bool = False) -> Outcome:
        refuse_local_images(request, allow_loopback=self._settings.loopback_images)
        if not self._client.has_api_key:
            raise errors.MissingApiKey(self._client.missing_key)
        await self._retirements.refuse(request.provider)  # an API HeyGen said is retired is not asked again
        while True:
            try:
                reservation = await self._library.reserve(
                    request,
                    window=self._settings.duplicate_window,
                    allow_duplicate=allow_duplicate,
                    daily_budget=self._settings.daily_renders,
                )
            except BudgetUsed:
                raise self._budget_exhausted(self._settings.daily_renders or 0) from None
            if not reservation.existing:
                return Outcome(await self._send(reservation.job, request))
            job = reservation.job
            # An identical call is in flight (maybe in another process): wait for its answer while time allows.
            with deadline.soft():
                while job.status == SUBMITTING:
                    await anyio.sleep(_IN_FLIGHT_POLL)
                    job = await self._library.get(job_id=job.id) or job
            if job.status == SUBMIT_FAILED:
                continue  # it failed, so nothing was bought: this call may try
            if job.status == SUBMIT_UNCERTAIN:
                raise errors.DuplicateUncertain(
                    "An identical request was sent at "
                    f"{time.strftime('%H:%M:%S', time.localtime(job.created_at))} and HeyGen's answer was lost, "
                    "so it may already be rendering (and paid for).",
                    advice="Check your HeyGen dashboard; to submit anyway, call generate_video again with "
                    "allow_duplicate=true.",
                )
            return Outcome(job, duplicate=True)  # still SUBMITTING here means its answer is on the way

    @staticmethod
    def _budget_exhausted(budget: int) -> errors.BudgetExhausted:
        now = time.time()
        hours, rest = divmod(int(86400 - now % 86400), 3600)
        return errors.BudgetExhausted(
            f"Your daily budget on this server is {budget} new video{'s' if budget != 1 else ''}, and today's "
            f"are used up. It renews at 00:00 UTC, in {hours} h {rest // 60} min.",
            advice="Nothing was sent to HeyGen; videos already made stay available through list_videos.",
        )

    async def _send(self, job: Job, request: VideoRequest) -> Job:
        """Post in the background and wait for the answer within the caller's deadline. A caller that leaves
        before the request is on the wire takes it back; after that, the answer is recorded regardless."""
        wire = Wire(deadline=anyio.current_effective_deadline())
        scope = anyio.CancelScope()
        done = anyio.Event()
        answer: list[Job | BaseException] = []

        async def post() -> None:
            try:
                with scope:
                    answer.append(await self._post(job, request, wire))
                if scope.cancelled_caught:
                    answer.append(errors.APIConnectionFailed("The request was withdrawn before it was sent."))
            except Exception as exc:  # reported to the caller, never into the server's task group
                answer.append(exc)
            finally:
                done.set()
                self._posting.discard(done)

        self._posting.add(done)
        self._tasks.start_soon(post)
        try:
            with deadline.soft():
                await done.wait()
        finally:
            if not done.is_set() and not wire.sent:
                scope.cancel()  # the caller left or ran out of time before a byte reached HeyGen
        if not done.is_set():
            if not wire.sent:
                raise errors.APIConnectionFailed(
                    "HeyGen could not be reached in time, and nothing was sent. Try again in a moment."
                )
            return await self._library.get(job_id=job.id) or job  # SUBMITTING: the answer will be recorded
        result = answer[0]
        if isinstance(result, errors.InsufficientCredits):  # hook (tools/credits.py): a 402 says the balance
            raise await credits.explained(self._client, result)
        if isinstance(result, errors.EndpointRetired):
            await self._retirements.learn(result)
        if isinstance(result, BaseException):
            raise result
        return result

    async def _post(self, job: Job, request: VideoRequest, wire: Wire) -> Job:
        beat = anyio.CancelScope()  # the row says this process still waits for the answer, until it is recorded
        self._tasks.start_soon(self._heartbeat, job.id, beat)
        try:
            if self._settings.callback_base is not None and request.provider == VIDEO_AGENT:
                request = await self._with_callback(job, request, self._settings.callback_base)
            if request.reference_image is not None:  # a local image goes up first; the upload buys nothing
                request = request.with_asset(*await self._client.upload_asset(request.reference_image))
            execution = await self._client.submit(request, wire)
        except errors.HeyGenError as exc:
            beat.cancel()
            await self._record_refusal(job, str(exc), uncertain=exc.maybe_accepted)
            raise
        except BaseException as exc:
            beat.cancel()
            # Withdrawn before sending (nothing bought), or cut off after (HeyGen may have the job).
            why = "the request was interrupted" if wire.sent else "withdrawn before anything was sent"
            with anyio.CancelScope(shield=True):
                await self._record_refusal(job, why, uncertain=wire.sent)
            if isinstance(exc, Exception):
                logger.exception("Submitting job %s failed unexpectedly", job.id)
            raise
        try:
            recorded = await self._library.submitted(job.id, execution)
            beat.cancel()
            return recorded
        except errors.LibraryError as exc:
            # The paid id must not vanish with a locked or unreachable library: it goes to the log and the
            # answer, and is recorded from memory as soon as the library is back.
            logger.warning(
                "HeyGen created execution %s (session %s) for the prompt %r, but the library could not record it "
                "yet (it is tried again in the background): %s",
                execution.execution_id,
                execution.session_id,
                request.prompt,
                exc,
            )
            self._unrecorded[execution.execution_id] = (job.id, execution)
            self._tasks.start_soon(self._record_later, execution.execution_id, request.prompt, beat)
            now = time.time()
            return replace(
                job,
                execution_id=execution.execution_id,
                status=execution.status,
                heygen_status=execution.heygen_status,
                video_id=execution.video_id,
                session_id=execution.session_id,
                updated_at=now,
            )

    async def _with_callback(self, job: Job, request: VideoRequest, base: str) -> VideoRequest:
        """The request with a callback on this server, its unguessable id recorded first, so that a callback
        is known wherever it lands, however soon it comes."""
        callback_id = secrets.token_urlsafe(CALLBACK_ID_BYTES)
        await self._library.expect_callback(job.id, callback_id)
        return replace(request, callback=(base + callback_id, callback_id))

    async def _heartbeat(self, job_id: int, scope: anyio.CancelScope) -> None:
        with scope:
            while True:
                await anyio.sleep(SUBMIT_HEARTBEAT_SECONDS)
                try:
                    await self._library.heartbeat(job_id)
                except errors.LibraryError as exc:
                    logger.info("Could not renew job %s's claim on its submission: %s", job_id, exc)

    async def _record_later(self, execution_id: str, prompt: str, beat: anyio.CancelScope) -> None:
        """Record a paid id the library could not take when HeyGen answered, once it is back (bounded)."""
        try:
            with anyio.move_on_after(_RECORD_SECONDS):
                while execution_id in self._unrecorded:
                    await anyio.sleep(_RECORD_PAUSE)
                    if await self.record_pending(execution_id):
                        logger.info("Execution %s is now recorded in the library", execution_id)
                        return
            if execution_id in self._unrecorded:
                logger.error(
                    "Gave up recording execution %s (prompt %r) after %.0f s: the library stayed unusable. Follow "
                    "it with check_status to record it.",
                    execution_id,
                    prompt,
                    _RECORD_SECONDS,
                )
        finally:
            beat.cancel()
            self._unrecorded.pop(execution_id, None)

    async def record_pending(self, execution_id: str) -> bool:
        """Record a paid id still kept in memory, if there is one; False if the library still refuses."""
        pending = self._unrecorded.get(execution_id)
        if pending is None:
            return True
        try:
            await self._library.submitted(*pending)
        except errors.LibraryError as exc:
            logger.info("Execution %s still cannot be recorded: %s", execution_id, exc)
            return False
        self._unrecorded.pop(execution_id, None)
        return True

    async def _record_refusal(self, job: Job, why: str, *, uncertain: bool) -> None:
        try:
            await self._library.submit_failed(job.id, why, uncertain=uncertain)
        except errors.LibraryError as exc:
            logger.warning("Could not record the outcome of job %s (%s): %s", job.id, why, exc)

    async def aclose(self, grace: float) -> None:
        """Let submissions already on the wire record their answers, for at most `grace` seconds."""
        with anyio.move_on_after(grace):
            for done in list(self._posting):
                await done.wait()
