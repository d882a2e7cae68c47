"""The command line for people: the installed console script as a subprocess against the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools.providers import PROVIDER_VALUES

from .conftest import API_KEY
from .test_stdio import console_script

Run = Callable[..., subprocess.CompletedProcess[str]]
PROMPT = "A paper boat drifting down a rainy gutter, macro lens, soft grey light"


@pytest.fixture
def run(sandbox: Sandbox, tmp_path: Path) -> Run:
    sandbox.reset()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "TTY_", "FORCE_", "COLUMNS"))}
    env |= {
        "HEYGEN_API_KEY": API_KEY,
        "HEYGEN_API_BASE_URL": sandbox.base_url,
        "HEYGEN_POLL_INTERVAL": "0.1",
        "HEYGEN_OUTPUT_DIR": str(tmp_path / "videos"),
        "COLUMNS": "120",
    }

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
    assert job["status"] == "submitted" and job["local_path"] is None and "next_step" not in job
    execution_id = job["execution_id"]

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
