"""The command line for people: the installed console script as a subprocess against the sandbox."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from heygen_video_mcp.server.runtime import running_jobs
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools.providers import PROVIDER_VALUES
from heygen_video_mcp.tools.request import VideoRequest

from .conftest import API_KEY
from .test_stdio import console_script

Run = Callable[..., subprocess.CompletedProcess[str]]
PROMPT = "A paper boat drifting down a rainy gutter, macro lens, soft grey light"


def cli_env(base_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a person's shell, pointing at a sandbox, with the library in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "TTY_", "FORCE_", "COLUMNS"))}
    return env | {
        "HEYGEN_API_KEY": API_KEY,
        "HEYGEN_API_BASE_URL": base_url,
        "HEYGEN_POLL_INTERVAL": "0.1",
        "HEYGEN_OUTPUT_DIR": str(tmp_path / "videos"),
        "COLUMNS": "120",
    }


@pytest.fixture
def run(sandbox: Sandbox, tmp_path: Path) -> Run:
    sandbox.reset()
    env = cli_env(sandbox.base_url, tmp_path)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [console_script(), *args], env=env | extra, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    return run


def parsed(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def test_generate_wait_saves_the_video_with_a_progress_bar(run: Run, sandbox: Sandbox, tmp_path: Path) -> None:
    done = run(
        "generate",
        PROMPT,
        "--aspect-ratio",
        "9:16",
        "--provider",
        "ltx_distilled",
        "--config",
        '{"seed": 7}',
        "--wait",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    video = parsed(done)
    assert video["status"] == "completed" and video["execution_id"] in sandbox.jobs
    path = Path(video["local_path"])
    assert path.parent == tmp_path / "videos" and path.suffix == ".mp4"
    assert path.read_bytes() == sandbox.video_bytes(video["video_id"])
    assert sandbox.jobs[video["execution_id"]].input == {
        "prompt": PROMPT,
        "provider": "ltx_distilled",
        "aspect_ratio": "9:16",
        "config": {"seed": 7},
    }
    # Not a terminal: the bar is drawn once, as it ended: the render, then the saved bytes.
    lines = done.stderr.splitlines()
    render = next(line for line in lines if line.startswith("render"))
    saved = next(line for line in lines if line.startswith("download"))
    assert "━" in render and "100%" in render and "completed after" in render
    assert "100%" in saved and " of " in saved and "B" in saved
    assert API_KEY not in done.stdout + done.stderr


def test_a_video_agent_video_is_made_and_saved_the_same_way(run: Run, sandbox: Sandbox) -> None:
    done = run("generate", PROMPT, "--provider", "video_agent", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    video = parsed(done)
    assert video["execution_id"].startswith("video_agent:") and video["status"] == "completed"
    assert Path(video["local_path"]).read_bytes() == sandbox.video_bytes(video["video_id"])
    assert parsed(run("status", video["execution_id"], "--json"))["local_path"] == video["local_path"]


def test_the_bar_moves_live_on_a_terminal(run: Run) -> None:
    with Sandbox(api_key=API_KEY, render_seconds=2) as sandbox:
        terminal = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "HEYGEN_API_BASE_URL": sandbox.base_url}
        done = run("generate", PROMPT, "--wait", **terminal)
    assert done.returncode == 0, done.stderr
    # Redrawn in place as the render goes on (erase-line codes), telling the render's own clock.
    assert done.stderr.count("\x1b[2K") > 3 and "renders usually take 1-5 minutes" in done.stderr
    assert "completed after" in done.stderr
    assert "saved to" in done.stdout and "completed" in done.stdout


def test_status_list_download_and_providers(run: Run, sandbox: Sandbox, tmp_path: Path) -> None:
    started = run("generate", PROMPT, "--json")
    assert started.returncode == 0, started.stderr
    job = parsed(started)
    assert job["status"] == "submitted" and job["local_path"] is None
    execution_id = job["execution_id"]
    assert job["next_step"].startswith("Rendering") and f"heygen-video-mcp status {execution_id}" in job["next_step"]

    again = parsed(run("generate", PROMPT, "--json"))
    assert again["execution_id"] == execution_id and again["duplicate"] is True  # not bought twice
    assert sandbox.count("create") == 1

    waited = parsed(run("generate", PROMPT, "--wait", "--json"))  # the same job, followed and saved
    assert waited["execution_id"] == execution_id and Path(waited["local_path"]).is_file()

    status = run("status", execution_id)
    assert status.returncode == 0 and "completed" in status.stdout and waited["local_path"] in status.stdout
    assert parsed(run("status", execution_id, "--json"))["status"] == "completed"

    listed = parsed(run("list", "--json"))
    assert listed["count"] == 1 and listed["videos"][0]["execution_id"] == execution_id
    table = run("list", "--query", "paper boat")
    assert table.returncode == 0 and execution_id in table.stdout and "completed" in table.stdout

    copy = run("download", execution_id, "--dir", "copies", "--filename", "boat.mp4", "--json")
    assert copy.returncode == 0, copy.stderr
    assert parsed(copy)["local_path"] == str(tmp_path / "copies" / "boat.mp4")  # beside the person, not the library
    assert (tmp_path / "copies" / "boat.mp4").read_bytes() == Path(waited["local_path"]).read_bytes()

    providers = parsed(run("providers", "--json"))
    assert providers["default_provider"] == "veo_3_1"
    assert [p["value"] for p in providers["providers"]] == list(PROVIDER_VALUES)
    assert "ltx_distilled" in run("providers").stdout


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["generate", "   "], "prompt is empty"),
        (["generate", PROMPT, "--provider", "veo4"], "ltx_distilled"),
        (["generate", PROMPT, "--aspect-ratio", "wide"], "16:9"),
        (["generate", PROMPT, "--wait", "--timeout", "0"], "--timeout"),
        (["generate", PROMPT, "--config", "[1, 2]"], "--config must be a JSON object"),
        (["generate", PROMPT, "--config", "{nope"], "--config must be a JSON object"),
        (["status", "../../etc"], "not a HeyGen execution id"),
        (["download", "a/b"], "not a HeyGen execution id"),
        (["download", "node-gw-1", "--filename", "../x.mp4"], "plain file name"),
        (["list", "--status", "lost"], "submitted"),
        (["list", "--limit", "0"], "between 1 and"),
    ],
)
def test_bad_input_exits_2_with_the_reason_and_sends_nothing(
    run: Run, sandbox: Sandbox, args: list[str], reason: str
) -> None:
    for as_json in (False, True):
        done = run(*args, *(["--json"] if as_json else []))
        assert done.returncode == 2, done
        assert reason in done.stderr and "Traceback" not in done.stderr
        if as_json:
            assert parsed(done)["error"] == "invalid_input" and reason in parsed(done)["message"]
    assert sandbox.requests == []


def test_bad_configuration_exits_2_naming_the_variable(run: Run) -> None:
    done = run("list", "--json", HEYGEN_POLL_INTERVAL="soon")
    assert done.returncode == 2 and "HEYGEN_POLL_INTERVAL" in done.stderr
    assert parsed(done)["error"] == "invalid_configuration" and "HEYGEN_POLL_INTERVAL" in parsed(done)["message"]


def test_a_failed_render_exits_1_with_heygens_reason(run: Run, sandbox: Sandbox) -> None:
    sandbox.next_outcome("failed", message="Prompt rejected by content moderation")
    done = run("generate", PROMPT, "--wait", "--json")
    assert done.returncode == 1
    assert parsed(done)["status"] == "failed" and parsed(done)["error"] == "Prompt rejected by content moderation"
    assert "HeyGen could not make the video: Prompt rejected by content moderation" in done.stderr
    unknown = run("status", "node-gw-never-made")
    assert unknown.returncode == 1 and "does not know" in unknown.stderr


def test_heygen_faults_and_a_missing_key_are_reasons_not_tracebacks(run: Run, sandbox: Sandbox) -> None:
    sandbox.inject("create", Fault.server_error(400))
    refused = run("generate", PROMPT, "--json")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert parsed(refused)["error"] == "bad_request" and parsed(refused)["message"] in refused.stderr
    no_key = run("generate", PROMPT, HEYGEN_API_KEY="")
    assert no_key.returncode == 2 and "HEYGEN_API_KEY is not set" in no_key.stderr


def test_a_render_still_going_when_wait_gives_up_exits_3(run: Run, make_settings: Any) -> None:
    with Sandbox(api_key=API_KEY, render_seconds=60) as slow:
        done = run("generate", PROMPT, "--wait", "--timeout", "0.5", "--json", HEYGEN_API_BASE_URL=slow.base_url)
    assert done.returncode == 3, done.stderr
    assert parsed(done)["done"] is False and f"status {parsed(done)['execution_id']}" in done.stderr


# Words written for an assistant about its tools, which a person at a terminal cannot act on.
TOOL_WORDS = re.compile(
    r"wait_for_video|check_status|download_video|generate_video|list_videos|list_providers|allow_duplicate="
    r"|restart the client|`directory`|provider=\"|Tell the user|client config|claude_desktop",
)


def for_people(done: subprocess.CompletedProcess[str]) -> str:
    """What the command said, anywhere, after checking that none of it is advice for an assistant."""
    said = done.stdout + done.stderr
    assert not TOOL_WORDS.search(said), said
    return said


def test_every_answer_says_what_a_person_types_next(run: Run, sandbox: Sandbox) -> None:
    started = run("generate", PROMPT, "--json")
    execution_id = parsed(started)["execution_id"]
    assert f"heygen-video-mcp status {execution_id}" in parsed(started)["next_step"]
    assert f"heygen-video-mcp status {execution_id}" in for_people(run("generate", PROMPT))
    again = run("generate", PROMPT, "--json")
    assert parsed(again)["duplicate"] is True and "--allow-duplicate" in parsed(again)["next_step"]
    for_people(again)

    with Sandbox(api_key=API_KEY, render_seconds=60) as slow:  # still rendering: nothing to save yet
        rendering = parsed(run("generate", "A heron in fog", "--json", HEYGEN_API_BASE_URL=slow.base_url))[
            "execution_id"
        ]
        early = run("download", rendering, "--json", HEYGEN_API_BASE_URL=slow.base_url)
    assert early.returncode == 1 and f"heygen-video-mcp status {rendering}" in parsed(early)["next_step"]
    assert "not completed" in for_people(early)

    no_key = run("generate", PROMPT, HEYGEN_API_KEY="")
    assert "export HEYGEN_API_KEY=" in for_people(no_key) and "heygen-video-mcp demo" in no_key.stderr
    folder = run("download", execution_id, "--filename", "../boat.mp4")
    assert "--dir" in for_people(folder)
    bad_id = run("status", "../../etc", "--json")
    assert "heygen-video-mcp list" in for_people(bad_id) and "heygen-video-mcp list" in parsed(bad_id)["next_step"]

    sandbox.inject("create", Fault.server_error(500))  # HeyGen may have made it: never bought again unasked
    maybe = run("generate", "A lantern on a pier at dusk", "--json")
    assert maybe.returncode == 1 and parsed(maybe)["retryable"] is False
    assert "heygen-video-mcp list" in parsed(maybe)["next_step"] and "--allow-duplicate" in for_people(maybe)
    uncertain = run("generate", "A lantern on a pier at dusk")
    assert "--allow-duplicate" in for_people(uncertain)

    sandbox.retire_v1()
    retired = run("generate", "A kite over dunes")
    assert "--provider video_agent" in for_people(retired)


def test_ctrl_c_while_waiting_tells_the_id_and_how_to_follow_it(tmp_path: Path) -> None:
    for as_json in (True, False):
        with Sandbox(api_key=API_KEY, render_seconds=120) as slow:
            env = cli_env(slow.base_url, tmp_path)
            args = [console_script(), "generate", f"{PROMPT} {as_json}", "--wait", *(["--json"] if as_json else [])]
            # As a terminal starts it: Ctrl-C not ignored (a suite run in the background, `pytest &`, hands
            # its children SIGINT ignored, and a command started that way rightly keeps ignoring it).
            terminal = functools.partial(signal.signal, signal.SIGINT, signal.SIG_DFL)
            with subprocess.Popen(
                args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=terminal
            ) as cli:
                while not slow.jobs or not slow.status_reads(next(iter(slow.jobs))):  # following the render
                    assert cli.poll() is None, cli.communicate()
                    time.sleep(0.02)
                cli.send_signal(signal.SIGINT)
                out, err = cli.communicate(timeout=30)
            execution_id = next(iter(slow.jobs))
        assert cli.returncode == 130, err
        assert f"heygen-video-mcp status {execution_id}" in err and "Traceback" not in err
        if as_json:
            video = json.loads(out)  # exactly one document
            assert video["execution_id"] == execution_id and video["status"] in ("submitted", "processing")
        else:
            assert execution_id in out + err


def test_a_closed_pipe_ends_the_command_quietly(sandbox: Sandbox, make_settings: Any, tmp_path: Path) -> None:
    async def seed() -> None:  # more than a pipe holds, so the reader is gone before the writing ends
        settings = make_settings()
        async with running_jobs(settings, settings.library()) as jobs:
            for n in range(40):
                request = VideoRequest.checked(prompt=f"{n} {PROMPT} " * 60, provider="veo_3_1", aspect_ratio="16:9")
                await jobs.submit(request)

    anyio.run(seed)
    reader = shutil.which("head")
    assert reader is not None
    for args in (["list", "--limit", "200", "--json"], ["list", "--limit", "200"]):
        writer = subprocess.Popen(
            [console_script(), *args],
            env=cli_env(sandbox.base_url, tmp_path) | {"HEYGEN_DOWNLOAD": "false"},  # no download bar
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert writer.stdout is not None and writer.stderr is not None
        head = subprocess.run([reader, "-1"], stdin=writer.stdout, capture_output=True, timeout=60)
        writer.stdout.close()
        err = writer.stderr.read().decode()
        writer.stderr.close()
        assert writer.wait(timeout=60) == 0, err
        assert err == "" and head.stdout.count(b"\n") == 1


def test_download_of_an_id_never_seen_here_says_so(run: Run) -> None:
    for as_json in (False, True):
        done = run("download", "node-gw-never-made", *(["--json"] if as_json else []))
        assert done.returncode == 1, done.stderr
        assert "never seen" in done.stderr and "heygen-video-mcp list" in for_people(done)
        if as_json:
            assert parsed(done)["retryable"] is False and parsed(done)["execution_id"] == "node-gw-never-made"


def test_a_list_filtered_to_nothing_names_the_filters(run: Run) -> None:
    empty = run("list")
    assert empty.returncode == 0 and "No videos yet" in empty.stdout and "heygen-video-mcp generate" in empty.stdout
    assert run("generate", PROMPT).returncode == 0
    for args, named in (
        (["--query", "zebra"], "--query 'zebra'"),
        (["--status", "failed"], "--status failed"),
        (["--status", "failed", "--query", "boat"], "--status failed --query 'boat'"),
    ):
        done = run("list", *args)
        assert done.returncode == 0 and "No videos yet" not in done.stdout
        assert "No videos match" in done.stdout and named in done.stdout, done.stdout


# The modules that make MCP tools; the command line shares the job logic and the answer builder, never these.
TOOL_MODULES = (
    "batch",
    "cancel_video",
    "check_credits",
    "check_status",
    "download_video",
    "generate_video",
    "generate_videos",
    "list_providers",
    "list_videos",
    "wait_for_video",
    "wait_for_videos",
)


def test_the_command_line_imports_no_tool_module(run: Run) -> None:
    def imported(done: subprocess.CompletedProcess[str]) -> set[str]:
        assert done.returncode == 0, done.stderr
        lines = done.stderr.splitlines()
        return {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")}

    made = run("generate", PROMPT, "--wait", "--json", PYTHONPROFILEIMPORTTIME="1")
    seen = imported(made)
    assert "heygen_video_mcp.tools.results" in seen  # the answer builder, which the tools share
    execution_id = parsed(made)["execution_id"]
    for args in (("status", execution_id), ("download", execution_id), ("list",), ("providers",)):
        seen |= imported(run(*args, PYTHONPROFILEIMPORTTIME="1"))
    assert not {f"heygen_video_mcp.tools.{name}" for name in TOOL_MODULES} & seen
