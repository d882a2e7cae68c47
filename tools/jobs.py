"""The job logic: submit once, follow, wait within a deadline, keep the video. No MCP in here, so a CLI or
an HTTP front end can drive the same code.

Two kinds of work outlive the call that started them, in the task group the server's lifespan owns:
- a submission, once its first byte is on the wire: HeyGen may have made a paid job, so its answer is read
  and recorded whatever happens to the caller (a caller that leaves before that cancels it: nothing sent);
- saving a finished video, which no caller waits for longer than a moment. The library's download claim
  makes it happen once per video across calls and processes; a failure backs off; a retry resumes.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import anyio
from anyio.abc import TaskGroup

from heygen_video_mcp.tools import credits, deadline, errors, routes
from heygen_video_mcp.tools.client import Execution, HeyGenClient, Wire
from heygen_video_mcp.tools.download import DEFAULT_MAX_BYTES, clean_filename, default_filename, download
from heygen_video_mcp.tools.library import (
    SUBMIT_FAILED,
    SUBMIT_HEARTBEAT_SECONDS,
    SUBMIT_UNCERTAIN,
    SUBMITTING,
    UNFINISHED,
    BudgetUsed,
    Job,
    Library,
)
from heygen_video_mcp.tools.pacer import Pacer
from heygen_video_mcp.tools.providers import VIDEO_AGENT_TYPICAL
from heygen_video_mcp.tools.request import VideoRequest, checked_execution_id, refuse_control, refuse_local_images
from heygen_video_mcp.tools.schedule import Estimate
from heygen_video_mcp.tools.videoagent import Sessions

logger = logging.getLogger(__name__)

Progress = Callable[[str, float, float, str], Awaitable[None]]
"""Told the status, the seconds since submission, the expected total and a message for the user."""
SaveProgress = Callable[[str, int, int | None], None]
"""Told, while a video is being saved, its execution id, the bytes so far and the size when known."""

# How often a call that found an identical request in flight looks for its execution id.
_IN_FLIGHT_POLL: Final = 0.1
# list_videos refreshes at most this many unfinished jobs, this many at once, skipping any this server read
# in the last few seconds.
_REFRESH_LIMIT: Final = 10
_REFRESH_AT_ONCE: Final = 4
_REFRESH_FRESH_SECONDS: Final = 5.0
# Failures of one status read that say nothing about the render: a wait keeps going through them.
_TRANSIENT: Final = (errors.APIConnectionFailed, errors.ServerFault, errors.RateLimited, errors.UnexpectedResponse)
# Next-read plans kept before forgetting those of jobs nobody follows; estimates are re-read this often.
_PLAN_LIMIT: Final = 1000
# How many execution ids known to be this tenant's are remembered (then forgotten at once, and relearned).
_OWN_LIMIT: Final = 10_000
_WAKE_SLACK: Final = 0.01
# A wait tells progress at least this often (seconds), between status reads as well as at them.
_TICK: Final = 1.0
_ESTIMATE_SECONDS: Final = 60.0
# A download claim lasts this long and is renewed while bytes flow, so a crashed process frees it soon.
_LEASE_SECONDS: Final = 60.0
# A read its last caller left is kept this long for one who asks again at once (the next wait_for_video).
_UNWANTED_GRACE: Final = 1.0
# After a failed save, the next automatic try waits 30 s, 60 s, 120 s ... up to 30 minutes.
_BACKOFF_FIRST: Final = 30.0
_BACKOFF_MAX: Final = 1800.0
# A paid execution id the library could not record is tried again this often, for this long, from memory.
_RECORD_PAUSE: Final = 1.0
_RECORD_SECONDS: Final = 900.0


@dataclass(frozen=True)
class JobSettings:
    poll_interval: float = 10.0
    duplicate_window: float = 600.0
    download: bool = True
    output_dir: Path = Path("HeyGen")
    # A not_found this soon after our own submission is HeyGen's read lagging its write, not the end.
    not_found_grace: float = 120.0
    agent_thinking_seconds: float = 120.0  # a Video Agent session thinking this long with no video is stuck
    max_video_bytes: int = DEFAULT_MAX_BYTES
    # Video links may point at loopback or private hosts only when HeyGen itself is one (the sandbox).
    private_video_hosts: bool = False
    # Image URLs may be loopback only when HeyGen itself is (the sandbox); never private or link-local.
    loopback_images: bool = False
    # How long a call that sees a finished video waits for its save before answering "saving".
    save_grace: float = 1.5
    reads_per_second: float = 50.0  # status reads for the whole process (for one tenant, in remote mode)
    daily_renders: int | None = None  # new submissions a UTC day (remote mode's tenants), None: no limit


@dataclass(frozen=True)
class Outcome:
    job: Job
    duplicate: bool = False
    waited: float = 0.0


@dataclass
class _Read:
    """One status read in flight; every caller that wants the job's status meanwhile waits for it. When the
    last of them has left for _UNWANTED_GRACE seconds, the read (with its retries) is cancelled: nobody
    follows a job nobody waits on."""

    done: anyio.Event = field(default_factory=anyio.Event)
    job: Job | None = None
    error: Exception | None = None
    waiters: int = 0
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    # The deadline of the call that started it: a Retry-After pause that would outlast it is not waited
    # out in the background (the caller would only see HeyGen "not answering"); the 429 is the answer.
    deadline: float = math.inf


@dataclass
class _Save:
    """One save in progress in this process; callers wait on `done` as long as they can afford."""

    done: anyio.Event = field(default_factory=anyio.Event)
    path: Path | None = None
    error: str | None = None
    expired: bool = False  # the link is dead and HeyGen gave no fresh one: another try will not help


class VideoJobs:
    def __init__(
        self,
        client: HeyGenClient,
        library: Library,
        settings: JobSettings,
        tasks: TaskGroup,
        *,
        on_bytes: SaveProgress | None = None,
    ) -> None:
        self.client = client
        self.library = library
        self.settings = settings
        self._tasks = tasks
        # Per-id state lives only while its work runs: each entry is removed when the work ends.
        self._saves: dict[tuple[str, Path | None, str | None], _Save] = {}
        self._posting: set[anyio.Event] = set()
        # Paid ids the library has not recorded yet (execution id -> job id and HeyGen's answer), kept until
        # a background retry records them: a follow here records one first, so it attaches to its row.
        self._unrecorded: dict[str, tuple[int, Execution]] = {}
        self._reads: dict[str, _Read] = {}
        self._next_read: dict[str, float] = {}  # execution id -> anyio clock time its next read is due
        self._plan_limit = _PLAN_LIMIT
        self._read_at: dict[str, float] = {}  # execution id -> unix time of its last status read here
        # Ids the library holds as this tenant's: a row is never handed to another tenant, so such an id needs
        # no tenant check before its next read (see _observe).
        self._own: set[str] = set()
        self._estimates: dict[tuple[str | None, str | None], tuple[Estimate, float]] = {}
        self._pacer = Pacer(settings.reads_per_second)
        self._on_bytes = on_bytes
        # hook (tools/videoagent.py): every status read goes through here; session ids are followed there
        self.sessions = Sessions(client, library, settings.agent_thinking_seconds)

    @property
    def busy(self) -> bool:
        """Whether work this job logic started still runs here (a submission, a status read, a save)."""
        return bool(self._posting or self._reads or self._saves)

    # --- submitting -------------------------------------------------------------------------------------

    async def submit(self, request: VideoRequest, *, allow_duplicate: bool = False) -> Outcome:
        refuse_local_images(request, allow_loopback=self.settings.loopback_images)
        if not self.client.has_api_key:
            raise errors.MissingApiKey(self.client.missing_key)
        while True:
            try:
                reservation = await self.library.reserve(
                    request,
                    window=self.settings.duplicate_window,
                    allow_duplicate=allow_duplicate,
                    daily_budget=self.settings.daily_renders,
                )
            except BudgetUsed:
                raise self._budget_exhausted(self.settings.daily_renders or 0) from None
            if not reservation.existing:
                job = await self._send(reservation.job, request)
                if job.execution_id is not None:
                    try:
                        await self._plan_next_read(job)
                    except errors.LibraryError as exc:  # the paid id is the answer; the plan can wait
                        logger.info("Could not plan the first read of %s: %s", job.execution_id, exc)
                return Outcome(job)
            job = reservation.job
            # An identical call is in flight (maybe in another process): wait for its answer while time allows.
            with deadline.soft():
                while job.status == SUBMITTING:
                    await anyio.sleep(_IN_FLIGHT_POLL)
                    job = await self.library.get(job_id=job.id) or job
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
            return await self.library.get(job_id=job.id) or job  # SUBMITTING: the answer will be recorded
        result = answer[0]
        if isinstance(result, errors.InsufficientCredits):  # hook (tools/credits.py): a 402 says the balance
            raise await credits.explained(self.client, result)
        if isinstance(result, BaseException):
            raise result
        return result

    async def _post(self, job: Job, request: VideoRequest, wire: Wire) -> Job:
        beat = anyio.CancelScope()  # the row says this process still waits for the answer, until it is recorded
        self._tasks.start_soon(self._heartbeat, job.id, beat)
        try:
            execution = await self.client.submit(request, wire)
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
            recorded = await self.library.submitted(job.id, execution)
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

    async def _heartbeat(self, job_id: int, scope: anyio.CancelScope) -> None:
        with scope:
            while True:
                await anyio.sleep(SUBMIT_HEARTBEAT_SECONDS)
                try:
                    await self.library.heartbeat(job_id)
                except errors.LibraryError as exc:
                    logger.info("Could not renew job %s's claim on its submission: %s", job_id, exc)

    async def _record_later(self, execution_id: str, prompt: str, beat: anyio.CancelScope) -> None:
        """Record a paid id the library could not take when HeyGen answered, once it is back (bounded)."""
        try:
            with anyio.move_on_after(_RECORD_SECONDS):
                while execution_id in self._unrecorded:
                    await anyio.sleep(_RECORD_PAUSE)
                    if await self._record_pending(execution_id):
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

    async def _record_pending(self, execution_id: str) -> bool:
        """Record a paid id still kept in memory, if there is one; False if the library still refuses."""
        pending = self._unrecorded.get(execution_id)
        if pending is None:
            return True
        try:
            await self.library.submitted(*pending)
        except errors.LibraryError as exc:
            logger.info("Execution %s still cannot be recorded: %s", execution_id, exc)
            return False
        self._unrecorded.pop(execution_id, None)
        return True

    async def _record_refusal(self, job: Job, why: str, *, uncertain: bool) -> None:
        try:
            await self.library.submit_failed(job.id, why, uncertain=uncertain)
        except errors.LibraryError as exc:
            logger.warning("Could not record the outcome of job %s (%s): %s", job.id, why, exc)

    async def aclose(self, grace: float) -> None:
        """Let submissions already on the wire record their answers, for at most `grace` seconds."""
        with anyio.move_on_after(grace):
            for done in list(self._posting):
                await done.wait()

    # --- following ---------------------------------------------------------------------------------------

    async def check(self, execution_id: str) -> Job:
        """One status read, recorded; a completed video starts saving."""
        execution_id = checked_execution_id(execution_id)
        job = await self._read(execution_id)
        if job.status == "not_found" and (alias := await self._alias(execution_id)) is not None:
            assert alias.execution_id is not None
            job = await self._read(alias.execution_id)
        return await self._finish(job)

    async def _known(self, execution_id: str) -> tuple[str, Job | None]:
        """The library's job for an id as given (or a Video Agent video's bare id), with the id to read it by."""
        job = await self.library.get(execution_id=execution_id) or await self._alias(execution_id)
        return (job.execution_id if job is not None and job.execution_id else execution_id), job

    async def _alias(self, execution_id: str) -> Job | None:
        """The Video Agent job whose bare video id (its video_id field) was given for its id, if the library
        knows one; looked for only where the id as given found nothing, so a known id costs nothing more."""
        if routes.backend_of(execution_id) == "video_agent":
            return None
        return await self.library.get(execution_id=routes.job_id("video_agent", execution_id))

    async def _read(self, execution_id: str, *, answer_by_deadline: bool = True) -> Job:
        """Read a job's status once for every caller that wants it now. The read runs in the background, so
        callers share it and one that leaves does not cut it off for the others. A caller that must answer
        by its deadline gives up a moment before it; one inside a wait lets the wait's own budget end it."""
        pending = self._reads.get(execution_id)
        if pending is None or pending.scope.cancel_called:  # none in flight, or one its callers left
            pending = self._reads[execution_id] = _Read(deadline=anyio.current_effective_deadline())
            self._tasks.start_soon(self._run_read, execution_id, pending)
        pending.waiters += 1
        try:
            with deadline.soft() if answer_by_deadline else anyio.CancelScope():
                await pending.done.wait()
        finally:
            pending.waiters -= 1
            if not pending.waiters and not pending.done.is_set():
                self._tasks.start_soon(self._drop_if_unwanted, pending)
        if not pending.done.is_set():
            raise errors.APITimedOut(
                f"HeyGen did not answer in time. The job is not affected: ask again about execution_id "
                f"{execution_id!r} in a moment."
            )
        if pending.error is not None:
            raise pending.error
        assert pending.job is not None
        return pending.job

    async def _drop_if_unwanted(self, pending: _Read) -> None:
        await anyio.sleep(_UNWANTED_GRACE)
        if not pending.waiters:
            pending.scope.cancel()

    async def _run_read(self, execution_id: str, pending: _Read) -> None:
        try:
            with pending.scope:
                pending.job = await self._observe(execution_id, self._read_at.get(execution_id), pending.deadline)
                await self._plan_next_read(pending.job)
        except errors.HeyGenError as exc:
            pending.error = exc
        except Exception as exc:
            logger.exception("Reading the status of %s failed unexpectedly", execution_id)
            pending.error = exc
        finally:
            if self._reads.get(execution_id) is pending:
                del self._reads[execution_id]
            pending.done.set()

    async def _observe(self, execution_id: str, unchanged_at: float | None = None, until: float = math.inf) -> Job:
        await self._record_pending(execution_id)  # so that a paid id attaches to its own row, with its prompt
        if execution_id not in self._own and await self.library.foreign(execution_id):
            # Another tenant's job answers as an unknown id would: HeyGen is not asked, nothing is adopted.
            return await self.library.observed(Execution(execution_id, "not_found", "not_found"))
        await self._pacer.take()
        execution = await self.sessions.read(execution_id, until)
        self._read_at[execution_id] = time.time()
        if execution.status == "not_found":
            known = await self.library.get(execution_id=execution_id)
            if (
                known is not None
                and known.status in UNFINISHED
                and time.time() - known.created_at < self.settings.not_found_grace
            ):
                # HeyGen's status read can lag its submission; the job stays as it was (the raw answer is kept).
                execution = replace(execution, status=known.status)  # type: ignore[arg-type]
        job = await self.library.observed(execution, unchanged_at=unchanged_at)
        if job.id:  # recorded, so under this tenant
            if len(self._own) >= _OWN_LIMIT:
                self._own.clear()
            self._own.add(execution_id)
        return job

    async def _plan_next_read(self, job: Job) -> None:
        """Schedule this job's next read from how long renders like it took (shared by all its waiters)."""
        assert job.execution_id is not None
        if job.status not in UNFINISHED:
            self._read_at.pop(job.execution_id, None)
            if self._next_read.pop(job.execution_id, None) is not None:  # it was followed here, and just ended:
                self._estimates.pop((job.provider, job.aspect_ratio), None)  # one more render to learn from
            return
        if len(self._next_read) > self._plan_limit:  # jobs nobody waits for any more are forgotten
            stale = anyio.current_time() - self.settings.poll_interval * 60
            self._next_read = {key: at for key, at in self._next_read.items() if at > stale}
            self._read_at = {key: at for key, at in self._read_at.items() if key in self._next_read}
            self._plan_limit = max(_PLAN_LIMIT, 2 * len(self._next_read))  # prune again only after growth
        elapsed = time.time() - job.created_at
        estimate = await self._estimate(job)
        self._next_read[job.execution_id] = anyio.current_time() + estimate.next_read(elapsed)

    async def _estimate(self, job: Job) -> Estimate:
        """What earlier renders of this provider and aspect ratio say, from the library (cached a minute)."""
        key = (job.provider, job.aspect_ratio)
        cached = self._estimates.get(key)
        now = anyio.current_time()
        if cached is None or now - cached[1] > _ESTIMATE_SECONDS:
            durations = await self.library.render_durations(job.provider, job.aspect_ratio)
            label = " ".join(filter(None, key)) or "HeyGen"
            typical = VIDEO_AGENT_TYPICAL if job.provider == routes.VIDEO_AGENT else None
            estimate = Estimate.of(durations, label, self.settings.poll_interval, typical)
            cached = self._estimates[key] = (estimate, now)
        return cached[0]

    async def wait(self, execution_id: str, budget: float, progress: Progress) -> Outcome:
        """Follow a job until it ends or `budget` seconds pass, reading its status when a read is due and
        telling progress at each read and every second in between; then say where it stands, keeping the id."""
        execution_id = checked_execution_id(execution_id)
        start = anyio.current_time()
        execution_id, job = await self._known(execution_id)
        with anyio.move_on_after(budget):
            while True:
                if job is None or (job.status in UNFINISHED and self._due(execution_id)):
                    try:
                        job = await self._read(execution_id, answer_by_deadline=False)
                    except _TRANSIENT as exc:
                        if job is None:
                            raise
                        # The render goes on whatever one read met: try again soon, still within this call.
                        logger.info("Reading %s failed (%s); trying again", execution_id, exc)
                        self._next_read[execution_id] = anyio.current_time() + self.settings.poll_interval / 4
                elapsed = max(time.time() - job.created_at, 0.0)
                estimate = await self._estimate(job)
                await progress(job.status, elapsed, estimate.total(elapsed), estimate.describe(job.status, elapsed))
                if job.status not in UNFINISHED:
                    break
                # Wake for the next read, or a second on to tell progress (the render's clock against the
                # estimate, with the last status read): a bar moves between reads without asking HeyGen more.
                until = max(self._next_read.get(execution_id, 0.0) - anyio.current_time(), 0.0)
                await anyio.sleep(min(until, _TICK))
        waited = anyio.current_time() - start
        if job is None:  # the first read outlasted the whole budget
            raise errors.APITimedOut(
                f"HeyGen did not answer within {budget:.0f}s.",
                advice=f"The job is not affected: call wait_for_video again with execution_id {execution_id!r}.",
            )
        return Outcome(await self._finish(job), waited=waited)

    def _due(self, execution_id: str) -> bool:
        # A sleep may end a hair early: a read due within it counts as due, or the wake would be wasted.
        return self._next_read.get(execution_id, 0.0) <= anyio.current_time() + _WAKE_SLACK

    async def stop(self, execution_id: str) -> Job:
        """Stop a Video Agent job's session (a cancel, or an MCP task's), then read where it stands."""
        execution_id, _ = await self._known(checked_execution_id(execution_id))
        await self.sessions.stop(execution_id)
        return await self._read(execution_id)

    # --- saving -------------------------------------------------------------------------------------------

    def saving(self, job: Job) -> bool:
        """Whether the video of a finished job is being (or will automatically be) saved."""
        if job.status != "completed" or not job.video_url:
            return False
        if any(key[0] == job.execution_id for key in self._saves):
            return True
        return self.settings.download and not _saved(job)

    async def _finish(self, job: Job) -> Job:
        """Start saving a completed job's video, once; wait for it only a moment."""
        if job.status != "completed" or not job.video_url or not self.settings.download or _saved(job):
            return job
        save = self._start_save(job, None, None, explicit=False)
        with deadline.soft(), anyio.move_on_after(self.settings.save_grace):
            await save.done.wait()
        return await self.library.get(job_id=job.id) or job

    async def save(self, execution_id: str, directory: Path | None = None, filename: str | None = None) -> Job:
        """Save a completed video on request, into `directory` (default: the output folder). Returns the job
        with its new path, or, when the save outlasts the call, as it is (the save goes on)."""
        execution_id = checked_execution_id(execution_id)
        refuse_control("directory", str(directory) if directory else None)
        refuse_control("filename", filename)
        name = clean_filename(filename) if filename else None
        target_dir = self._target_dir(directory)
        job = await self._known_completed(execution_id)
        if target_dir is None and name is None and _saved(job):
            return job
        save = self._start_save(job, target_dir, name, explicit=True)
        with deadline.soft():
            await save.done.wait()
        if save.error is not None:
            raise (errors.LinkExpired if save.expired else errors.DownloadFailed)(save.error)
        fresh = await self.library.get(job_id=job.id) or job
        if save.path is not None and fresh.local_path != str(save.path):
            fresh = replace(fresh, local_path=str(save.path))  # the library write failed; the file is there
        return fresh

    def _target_dir(self, directory: Path | None) -> Path | None:
        """A relative folder is inside the output folder (a desktop app's working directory is arbitrary) and
        may not climb out of it; an absolute one is where the user asked for the video, as given."""
        if directory is None:
            return None
        root = self.settings.output_dir.expanduser().resolve()
        target = (root / directory.expanduser()).resolve()
        if not directory.expanduser().is_absolute() and not target.is_relative_to(root):
            raise errors.InvalidInput(
                f"directory {str(directory)[:80]!r} leads outside the output folder {root}. Give a folder inside "
                "it (like 'client-work/march'), or an absolute path if the user named a folder elsewhere."
            )
        return target

    async def _known_completed(self, execution_id: str) -> Job:
        execution_id, job = await self._known(execution_id)
        if job is None or job.status != "completed" or not job.video_url:
            job = await self._read(execution_id)
        if job.status != "completed":
            raise errors.DownloadFailed(
                f"Execution {execution_id} is {job.status}, not completed: there is no video to download yet.",
                advice="Call wait_for_video first.",
            )
        if not job.video_url:
            raise errors.DownloadFailed(_without_url(job), advice=_WITHOUT_URL_ADVICE)
        return job

    def _start_save(self, job: Job, directory: Path | None, name: str | None, *, explicit: bool) -> _Save:
        assert job.execution_id is not None
        key = (job.execution_id, directory, name)
        save = self._saves.get(key)
        if save is None:
            save = self._saves[key] = _Save()
            self._tasks.start_soon(self._run_save, job, key, save, explicit)
        return save

    async def _run_save(self, job: Job, key: tuple[str, Path | None, str | None], save: _Save, explicit: bool) -> None:
        _, directory, name = key
        default_target = directory is None and name is None
        owner = secrets.token_hex(8)
        claimed = False
        try:
            if default_target:
                claimed = await self.library.claim_download(job.id, owner, _LEASE_SECONDS, force=explicit)
                if not claimed:
                    fresh = await self.library.get(job_id=job.id)
                    save.path = Path(fresh.local_path) if fresh and fresh.local_path and _saved(fresh) else None
                    if save.path is None and explicit:
                        save.error = "Another process is saving this video right now; ask again in a minute."
                    return
            renewal = anyio.CancelScope()
            if claimed:
                self._tasks.start_soon(self._renew, job.id, owner, renewal)
            try:
                save.path = await self._fetch(job, directory or self.settings.output_dir.expanduser(), name)
            finally:
                renewal.cancel()
        except errors.DownloadFailed as exc:
            save.error = str(exc) + (f" HeyGen keeps the video as asset_id {job.asset_id}." if job.asset_id else "")
            save.expired = isinstance(exc, errors.LinkExpired)
            logger.warning("Saving %s failed: %s", job.execution_id, save.error)
        except Exception:
            logger.exception("Saving %s failed unexpectedly", job.execution_id)
            save.error = "Saving the video failed unexpectedly (see the server log). Try download_video again."
        finally:
            with anyio.CancelScope(shield=True):
                await self._record_save(job, save, owner if claimed else None)
            del self._saves[key]
            save.done.set()

    async def _renew(self, job_id: int, owner: str, scope: anyio.CancelScope) -> None:
        with scope:
            while True:
                await anyio.sleep(_LEASE_SECONDS / 3)
                try:
                    await self.library.renew_download(job_id, owner, _LEASE_SECONDS)
                except errors.LibraryError as exc:
                    logger.warning("Could not renew the download claim of job %s: %s", job_id, exc)

    async def _record_save(self, job: Job, save: _Save, owner: str | None) -> None:
        path = str(save.path) if save.path else None
        try:
            if owner is not None:
                retry_at = None
                if save.error is not None:
                    retry_at = time.time() + min(_BACKOFF_FIRST * 2**job.download_attempts, _BACKOFF_MAX)
                await self.library.finish_download(job.id, owner, local_path=path, error=save.error, retry_at=retry_at)
            elif path is not None or save.error is not None:
                await self.library.saved(job.id, local_path=path, download_error=save.error)
        except errors.LibraryError as exc:
            logger.warning("Saved %s to %s but could not record it: %s", job.execution_id, path, exc)

    async def _fetch(self, job: Job, directory: Path, name: str | None) -> Path:
        """Download, asking HeyGen once for a freshly signed link if the stored one has expired."""
        assert job.execution_id is not None and job.video_url is not None
        filename = name or default_filename(job.created_at, job.prompt, job.execution_id)
        try:
            return await self._download(job.execution_id, job.video_url, directory, filename)
        except errors.LinkExpired as expired:
            try:
                fresh = await self.library.observed(await self.sessions.read(job.execution_id))
            except errors.HeyGenError:
                raise expired from None
            if not fresh.video_url or fresh.video_url == job.video_url:
                raise
            return await self._download(job.execution_id, fresh.video_url, directory, filename)

    async def _download(self, execution_id: str, url: str, directory: Path, filename: str) -> Path:
        on_bytes = self._on_bytes
        return await download(
            self.client.http,
            url,
            directory,
            filename,
            max_bytes=self.settings.max_video_bytes,
            allow_private=self.settings.private_video_hosts,
            progress=None if on_bytes is None else lambda done, total: on_bytes(execution_id, done, total),
        )

    # --- the library ----------------------------------------------------------------------------------------

    async def list(self, *, status: str | None = None, limit: int = 20, query: str | None = None) -> list[Job]:
        """Jobs from the library, newest first (with submissions whose answer is pending or was lost);
        unfinished ones are re-checked with HeyGen, a few at a time, while the call's time allows."""
        jobs = await self.library.jobs(status=status, limit=limit, query=query, include_unsent=True)
        now = time.time()
        stale = [
            job
            for job in jobs
            if job.execution_id
            and now - self._read_at.get(job.execution_id, 0.0) > _REFRESH_FRESH_SECONDS  # not read moments ago
            and (job.status in UNFINISHED or (self.settings.download and job.status == "completed" and not _saved(job)))
        ][:_REFRESH_LIMIT]
        if stale and self.client.has_api_key:
            limiter = anyio.Semaphore(_REFRESH_AT_ONCE)

            async def refresh(execution_id: str) -> None:
                async with limiter:
                    try:
                        await self.check(execution_id)
                    except errors.HeyGenError as exc:
                        logger.info("Refreshing %s failed: %s", execution_id, exc)

            with deadline.soft(2 * deadline.MARGIN):
                async with anyio.create_task_group() as group:
                    for job in stale:
                        assert job.execution_id is not None
                        group.start_soon(refresh, job.execution_id)
            jobs = await self.library.jobs(status=status, limit=limit, query=query, include_unsent=True)
        return jobs


def _saved(job: Job) -> bool:
    return bool(job.local_path) and os.path.isfile(job.local_path or "")  # no Path: this runs on every read


def completed_without_url(job: Job) -> str:
    return f"{_without_url(job)} {_WITHOUT_URL_ADVICE}"


def _without_url(job: Job) -> str:
    asset = f" HeyGen keeps it as asset_id {job.asset_id}." if job.asset_id else ""
    return f"HeyGen reports execution {job.execution_id} as completed but gave no video URL.{asset}"


_WITHOUT_URL_ADVICE: Final = (
    "Call check_status again in a minute; if the URL is still missing, find the video in your HeyGen library."
)
