"""The command line for people: `generate`, `status`, `list`, `download` and `providers`.

It drives the same job logic and library as the MCP tools, in this process (no MCP in between), with the
same settings and checks, so a video made here shows up in list_videos and the other way round. `--json`
prints one JSON document on stdout; messages and the progress bar go to stderr. What to do next is said in
commands a person types (server/cliwords.py), also as `next_step` in the JSON.

Exit codes: 0 done (also when the reader of stdout has gone, as `| head -1` does); 1 the video failed, is
unknown, or HeyGen could not be used; 2 bad input or configuration; 3 still rendering when `--wait` stopped
waiting (the render goes on: `status ID` later); 130 stopped by Ctrl-C (the id is printed: nothing is lost).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio

from heygen_video_mcp.server import cliwords
from heygen_video_mcp.tools.providers import DEFAULT_ASPECT_RATIO, DEFAULT_PROVIDER
from heygen_video_mcp.tools.status import final

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from heygen_video_mcp.server.config import Settings
    from heygen_video_mcp.tools.answer import ErrorResult
    from heygen_video_mcp.tools.jobs.front import VideoJobs
    from heygen_video_mcp.tools.results import VideoResult

COMMANDS: Final = ("generate", "status", "list", "download", "providers")
FAILED: Final = 1
BAD_INPUT: Final = 2
STILL_RENDERING: Final = 3
INTERRUPTED: Final = 130  # as a shell reports a command ended by SIGINT
# How long `generate --wait` follows a render by default: renders take 1-5 minutes, rarely much more.
WAIT_SECONDS: Final = 1800.0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    generate = sub.add_parser("generate", parents=[common], help="make a video from a prompt")
    generate.add_argument("prompt", help="the shot: subject, action, setting, camera, lighting, style, mood")
    generate.add_argument("--provider", default=DEFAULT_PROVIDER, help=f"default {DEFAULT_PROVIDER} (see providers)")
    generate.add_argument("--aspect-ratio", default=DEFAULT_ASPECT_RATIO, help="W:H, e.g. 16:9, 9:16, 1:1")
    generate.add_argument("--reference-image-url", help="an image to animate (public http(s) URL)")
    generate.add_argument("--reference-image-path", help="a PNG or JPEG on this computer (<= 32 MB), uploaded first")
    generate.add_argument("--tail-image-url", help="an image to end on (public http(s) URL)")
    generate.add_argument("--config", help='provider overrides as a JSON object, e.g. \'{"avatar_id": "..."}\'')
    generate.add_argument("--allow-duplicate", action="store_true", help="buy it again even if just made")
    generate.add_argument("--wait", action="store_true", help="follow the render with a progress bar and save it")
    generate.add_argument(
        "--timeout", type=float, default=WAIT_SECONDS, help=f"longest --wait, in seconds (default {WAIT_SECONDS:g})"
    )

    status = sub.add_parser("status", parents=[common], help="read a video's status once")
    status.add_argument("execution_id")

    listing = sub.add_parser("list", parents=[common], help="the videos in the library, newest first")
    listing.add_argument("--status", help="only videos in this status")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    listing.add_argument("--query", help="words of the prompt, a provider or an execution id")

    download = sub.add_parser("download", parents=[common], help="save a finished video")
    download.add_argument("execution_id")
    download.add_argument("--dir", help="folder to save into (default: the output folder)")
    download.add_argument("--filename", help="file name, e.g. coffee-shop.mp4")

    sub.add_parser("providers", parents=[common], help="HeyGen's video providers and aspect ratios")


def run(args: argparse.Namespace) -> int:
    from heygen_video_mcp.server.config import ConfigError, settings_from_env
    from heygen_video_mcp.server.logs import configure_logging

    out = Output(as_json=args.json)
    try:
        settings = settings_from_env()
    except ConfigError as exc:
        return out.failed(exc, args.command, None)
    # A terminal shows warnings unless asked for more: the server's INFO log would run through the progress bar.
    configure_logging(settings.api_key, settings.log_level if "HEYGEN_LOG_LEVEL" in os.environ else "WARNING")
    try:
        return anyio.run(_run, args, settings, out)
    except KeyboardInterrupt:
        return out.interrupted(args.command, getattr(args, "execution_id", None))


Command = Callable[["VideoJobs", argparse.Namespace, "Settings", "Output"], Awaitable[int]]


async def _run(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    from heygen_video_mcp.server.runtime import running_jobs
    from heygen_video_mcp.tools.errors import HeyGenError

    if args.command == "providers":
        return out.providers()
    command: Command = {"generate": _generate, "status": _status, "list": _list, "download": _download}[args.command]
    execution_id = None
    try:
        _check(args)  # bad input is refused before the library is opened or HeyGen is asked
        execution_id = getattr(args, "execution_id", None)
        async with running_jobs(settings, settings.library(), on_bytes=out.bar.saved) as jobs:
            try:
                return await command(jobs, args, settings, out)
            except Exception as exc:  # HeyGen's faults, a timeout, or a bug: a reason and an exit code, not a traceback
                return out.failed(exc, args.command, execution_id)
    except HeyGenError as exc:  # the library could not be opened
        return out.failed(exc, args.command, execution_id)
    finally:
        out.bar.stop()


def _check(args: argparse.Namespace) -> None:
    """Raise InvalidInput, saying what is valid, for arguments the tools would refuse too."""
    from heygen_video_mcp.tools.errors import InvalidInput
    from heygen_video_mcp.tools.request import VideoRequest, check_filters, checked_execution_id, read_local_image

    if args.command == "generate":
        args.request = VideoRequest.checked(
            prompt=args.prompt,
            provider=args.provider,
            aspect_ratio=args.aspect_ratio,
            reference_image_url=args.reference_image_url,
            tail_image_url=args.tail_image_url,
            config=_config(args.config),
            # A person's shell gives paths relative to where they stand.
            reference_image=read_local_image(os.path.abspath(args.reference_image_path))
            if args.reference_image_path
            else None,
        )
        if not args.timeout > 0:
            raise InvalidInput(f"--timeout must be a number of seconds above 0, such as {WAIT_SECONDS:g}.")
    elif args.command == "list":
        check_filters(args.status, args.limit, args.query)
    else:
        args.execution_id = checked_execution_id(args.execution_id)


def _config(text: str | None) -> dict[str, Any] | None:
    from heygen_video_mcp.tools.errors import InvalidInput

    if text is None:
        return None
    try:
        config = json.loads(text)
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise InvalidInput(f'--config must be a JSON object such as \'{{"avatar_id": "..."}}\'; got {text[:60]!r}.')
    return config


async def _generate(jobs: VideoJobs, args: argparse.Namespace, settings: Settings, out: Output) -> int:
    from heygen_video_mcp.tools.results import video_result

    with anyio.fail_after(settings.call_seconds):
        outcome = await jobs.submit(args.request, allow_duplicate=args.allow_duplicate)
    job, execution_id = outcome.job, outcome.job.execution_id
    if not args.wait or execution_id is None:
        return out.video(video_result(job, duplicate=outcome.duplicate, saving=jobs.saving(job)), waited=args.wait)
    out.following = video_result(job, duplicate=outcome.duplicate)  # said if Ctrl-C stops the wait

    async def progress(status: str, elapsed: float, total: float, message: str) -> None:
        out.follow(status)
        await out.bar.render(status, elapsed, total, message)

    job = (await jobs.wait(execution_id, args.timeout, progress)).job
    if job.status == "completed" and job.video_url and not job.local_path:
        job = await jobs.save(execution_id)  # the whole save, however long: the user asked for the file
    return out.video(video_result(job, duplicate=outcome.duplicate), waited=True)


async def _status(jobs: VideoJobs, args: argparse.Namespace, settings: Settings, out: Output) -> int:
    from heygen_video_mcp.tools.results import video_result

    with anyio.fail_after(settings.call_seconds):
        job = await jobs.check(args.execution_id)
    return out.video(video_result(job, saving=jobs.saving(job)))


async def _list(jobs: VideoJobs, args: argparse.Namespace, settings: Settings, out: Output) -> int:
    from heygen_video_mcp.tools.results import video_result

    with anyio.fail_after(settings.call_seconds):
        found = await jobs.list(status=args.status, limit=args.limit, query=args.query)
    return out.videos([video_result(job, saving=jobs.saving(job)) for job in found], args.status, args.query)


async def _download(jobs: VideoJobs, args: argparse.Namespace, settings: Settings, out: Output) -> int:
    from heygen_video_mcp.tools.errors import DownloadFailed
    from heygen_video_mcp.tools.results import video_result

    # A folder given at a terminal is where the person is, not inside the output folder as for the tool.
    directory = Path(args.dir).expanduser().resolve() if args.dir else None
    try:
        job = await jobs.save(args.execution_id, directory, args.filename)
    except DownloadFailed:
        # The library keeps every id HeyGen knows once it is read; one it still lacks, HeyGen does not know.
        if await jobs.library.get(execution_id=args.execution_id) is None:
            raise NeverSeen(args.execution_id) from None
        raise
    return out.video(video_result(job))


class NeverSeen(Exception):
    def __init__(self, execution_id: str) -> None:
        super().__init__(
            f"Execution id {execution_id} was never seen here (it is not in your library), and HeyGen does not "
            "know it either, so there is nothing to download."
        )


class Bar:
    """The render's progress (its own clock against its expected length), then the saved bytes, on stderr."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def _task(self, name: str, key: str) -> tuple[Progress, TaskID]:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description:<8}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[detail]}", markup=False),
                console=self._console,
            )
            self._progress.start()
        if key not in self._tasks:
            self._tasks[key] = self._progress.add_task(name, total=None, detail="")
        return self._progress, self._tasks[key]

    async def render(self, status: str, elapsed: float, total: float, message: str) -> None:
        progress, task = self._task("render", "render")
        ended = final(status)
        progress.update(task, total=total, completed=total if ended else min(elapsed, total), detail=message)

    def saved(self, execution_id: str, done: int, total: int | None) -> None:
        from rich.filesize import decimal

        progress, task = self._task("download", execution_id)  # `list` may save several
        size = f"{decimal(done)} of {decimal(total)}" if total else decimal(done)
        progress.update(task, total=total, completed=done, detail=size)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


class Output:
    """What a command says: readable lines on stdout, or one JSON document; messages on stderr."""

    def __init__(self, *, as_json: bool) -> None:
        from rich.console import Console

        self.as_json = as_json
        self.stderr = Console(stderr=True, highlight=False, soft_wrap=True)
        self.bar = Bar(self.stderr)
        self.following: VideoResult | None = None  # the video `generate --wait` follows
        self._printed = False

    def say(self, message: str) -> None:
        self.stderr.print(f"heygen-video-mcp: {message}", markup=False)

    def _print(self, text: str) -> None:
        """Write the answer; a reader that has gone (`| head -1`) has what it wanted, so the rest goes nowhere
        and the command ends as it would have."""
        self._printed = True
        try:
            print(text, flush=True)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def _json(self, data: Any) -> None:
        self._print(json.dumps(data, indent=2))

    def follow(self, status: str) -> None:
        if self.following is not None and status != self.following.status:
            self.following = self.following.model_copy(update={"status": status})

    def video(self, result: VideoResult, *, waited: bool = False, interrupted: bool = False) -> int:
        from heygen_video_mcp.tools.results import went_wrong

        self.bar.stop()
        result = result.model_copy(
            update={"next_step": cliwords.video_next(result, waited=waited, interrupted=interrupted)}
        )
        if self.as_json:
            self._json(_public(result))
        else:
            self._print(_lines(result))
        if not (result.status == "completed" and result.local_path):  # "saved to" says it all
            self.say(result.next_step)
        if interrupted:
            return INTERRUPTED
        if went_wrong(result):
            return FAILED
        return STILL_RENDERING if waited and not result.done else 0

    def videos(self, results: list[VideoResult], status: str | None, query: str | None) -> int:
        if self.as_json:
            self._json({"videos": [_public(r) for r in results], "count": len(results)})
            return 0
        blocks = []
        for r in results:
            when = (r.submitted_at or "")[:16].replace("T", " ")
            head = "  ".join(
                filter(None, (r.execution_id or "(no id yet)", r.status, when, r.provider, r.aspect_ratio))
            )
            rows = (r.prompt, f"saved to {r.local_path}" if r.local_path else None, r.error)
            blocks.append("\n".join([head, *(f"  {row}" for row in rows if row)]))
        filters = " ".join(
            ([f"--status {status}"] if status else []) + ([f"--query {query!r}"] if query is not None else [])
        )
        if blocks:
            text = "\n\n".join(blocks)
        elif filters:
            text = f"No videos match {filters}; heygen-video-mcp list without them shows them all."
        else:
            text = 'No videos yet: heygen-video-mcp generate "PROMPT" makes one.'
        self._print(text)
        return 0

    def providers(self) -> int:
        from heygen_video_mcp.tools.providers import CATALOG, catalog_text

        if self.as_json:
            self._json(CATALOG.model_dump(mode="json"))
        else:
            self._print(catalog_text())
        return 0

    def interrupted(self, action: str, execution_id: str | None) -> int:
        """Ctrl-C: the video being followed, with how to follow it on; or, before one, that nothing is lost."""
        if self._printed:
            return INTERRUPTED
        if self.following is not None:
            return self.video(self.following, interrupted=True)
        from heygen_video_mcp.tools.answer import ErrorResult

        self.bar.stop()
        message = "Stopped."
        if action == "generate":
            message += " HeyGen may have the request already: `heygen-video-mcp list` shows it in a minute."
        error = ErrorResult(
            error=cliwords.INTERRUPTED,
            message=message,
            execution_id=execution_id,
            retryable=True,
            next_step=cliwords.error_next(cliwords.INTERRUPTED, execution_id, action),
        )
        return self._error(error, INTERRUPTED)

    def failed(self, exc: Exception, action: str, execution_id: str | None) -> int:
        from heygen_video_mcp.server.config import ConfigError
        from heygen_video_mcp.tools.answer import ErrorResult, error_kind, failure
        from heygen_video_mcp.tools.errors import HeyGenError, InvalidInput, MissingApiKey

        self.bar.stop()
        if execution_id is None and self.following is not None:
            execution_id = self.following.execution_id  # a paid render never drops out of view
        maybe_accepted = isinstance(exc, HeyGenError) and exc.maybe_accepted
        if isinstance(exc, ConfigError):
            kind, message, retryable = "invalid_configuration", str(exc), False
        elif isinstance(exc, NeverSeen):
            kind, message, retryable = cliwords.NEVER_SEEN, str(exc), False
        elif isinstance(exc, TimeoutError):
            kind, message, retryable = "timed_out", f"{action} ran out of time; nothing was lost.", True
        elif isinstance(exc, HeyGenError):  # what happened; the advice, in people's words, is said below
            kind, message, retryable = error_kind(exc), exc.what, failure(exc, action, execution_id).retryable
        else:
            error = failure(exc, action, execution_id)
            kind, message, retryable = error.error, error.message, error.retryable
        if execution_id and execution_id not in message:
            message = f"{message} (execution id {execution_id})"
        error = ErrorResult(
            error=kind,
            message=message,
            execution_id=execution_id,
            retryable=retryable,
            next_step=cliwords.error_next(kind, execution_id, action, maybe_accepted=maybe_accepted),
        )
        code = BAD_INPUT if isinstance(exc, InvalidInput | MissingApiKey | ConfigError) else FAILED
        return self._error(error, code)

    def _error(self, error: ErrorResult, code: int) -> int:
        if self.as_json:
            self._json(error.model_dump(mode="json"))
        self.say(error.message)
        self.say(error.next_step)
        return code


def _public(result: VideoResult) -> dict[str, Any]:
    from heygen_video_mcp.tools.results import structured

    return structured(result)


def _lines(result: VideoResult) -> str:
    rows = [
        ("execution id", result.execution_id),
        ("status", result.status + (" (an identical recent request: not bought again)" if result.duplicate else "")),
        ("prompt", result.prompt),
        ("provider", result.provider),
        ("aspect ratio", result.aspect_ratio),
        ("error", result.error),
        ("saved to", result.local_path),
        ("saving", "in progress (heygen-video-mcp download ID saves it now)" if result.saving else None),
        ("not saved", result.download_error),
        ("video url", f"{result.video_url} (temporary)" if result.video_url else None),
        ("asset id", result.asset_id),
    ]
    return "\n".join(f"{label:<13} {value}" for label, value in rows if value)
