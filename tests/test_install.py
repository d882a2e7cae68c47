"""The README's install lines, each run as written into a temporary place, offline, and the server then started
the way that client's configuration starts it and driven with mcp.Client over stdio against the sandbox.

Offline means: no package index is reached. The dependencies come from a wheelhouse that .ci/run fills
(`pip download -d .ci/wheelhouse ...`) and Claude Code's CLI from the npm package .ci/run installs; without
them these tests are skipped, saying which command brings them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import PromptReference

from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import API_KEY, REPO, data_of, text_of
from .test_tools import TOOLS

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

README = (REPO / "README.md").read_text()
# The README's stand-in for wherever the repository is; tests put a local clone there.
REPO_URL = "git+https://github.com/OWNER/heygen-video-mcp"
PLACEHOLDER_KEY = "your-heygen-api-key"
WHEELHOUSE = Path(os.environ.get("HEYGEN_TEST_WHEELHOUSE", REPO / ".ci" / "wheelhouse"))
CLAUDE = Path(os.environ.get("HEYGEN_TEST_CLAUDE", REPO / ".ci" / "claude-code" / "node_modules" / ".bin" / "claude"))
BIN = Path(sys.executable).parent  # where the test extra put uv, uvx and pipx
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def snippet(client: str, lang: str) -> str:
    """The first ```lang block after the README's **client** label."""
    found = re.search(rf"\*\*{re.escape(client)}\*\*.*?```{lang}\n(.*?)```", README, re.DOTALL)
    assert found, f"no {lang} block for {client} in the README"
    return found.group(1)


def commands(client: str) -> list[list[str]]:
    """The commands of the client's bash block, split as the shell would."""
    return [shlex.split(line, comments=True) for line in snippet(client, "bash").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    if not any(WHEELHOUSE.glob("mcp-*.whl")):
        pytest.skip(f'no wheelhouse at {WHEELHOUSE}: run `pip download -d {WHEELHOUSE} . "setuptools>=68" wheel pip`')
    return WHEELHOUSE


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("install")


@pytest.fixture(scope="module")
def source(place: Path) -> Path:
    """This working tree as a git repository of its own, as a clone of the project would be."""
    src = place / "heygen-video-mcp"
    skip = shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "build", "dist", "*_cache", "__pycache__", "wheelhouse", "claude-code"
    )
    shutil.copytree(REPO, src, symlinks=True, ignore=skip)
    git = ["git", "-C", str(src), "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the project"]):
        subprocess.run([*git, *step], check=True, capture_output=True, timeout=60)
    return src


@pytest.fixture(scope="module")
def offline(wheelhouse: Path, place: Path) -> dict[str, str]:
    """The environment of an install with no package index: pip, pipx and uv find packages only in the
    wheelhouse, and any request that still tried the network would meet a closed local port."""
    return {
        "PATH": f"{BIN}:{SYSTEM_PATH}",
        "HOME": str(place / "home"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "UV_OFFLINE": "1",
        "UV_NO_INDEX": "1",
        "UV_FIND_LINKS": str(wheelhouse),
        "UV_CACHE_DIR": str(place / "uv-cache"),
        "UV_TOOL_DIR": str(place / "uv-tools"),
        "UV_PYTHON": sys.executable,
        "UV_PYTHON_DOWNLOADS": "never",
        "PIPX_HOME": str(place / "pipx"),
        "PIPX_BIN_DIR": str(place / "bin"),
        "PIPX_MAN_DIR": str(place / "man"),
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
    }


def run(argv: list[str], env: dict[str, str], timeout: float = 300, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{shlex.join(argv)}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def with_source(argv: list[str], source: Path) -> list[str]:
    return [arg.replace(REPO_URL, f"git+file://{source}") for arg in argv]


def pipx_install(source: Path, env: dict[str, str]) -> Path:
    """The README's pipx line, run: the folder of the console script pipx installed."""
    [line] = [argv for argv in commands("pipx") if argv[0] == "pipx"]
    assert line[:2] == ["pipx", "install"]
    run(with_source(line, source), env)
    script = Path(env["PIPX_BIN_DIR"]) / "heygen-video-mcp"
    assert script.is_file()
    return script.parent


@pytest.fixture(scope="module")
def pipx_bin(source: Path, offline: dict[str, str]) -> Path:
    return pipx_install(source, offline)  # pipx's uv backend, which it picks when uv is installed


def client_env(config_env: dict[str, str], sandbox: Sandbox, place: Path, path: str) -> dict[str, str]:
    """What a client passes to the server it starts: the config's env (the key filled in, as a person does),
    a PATH and home; and, for this test only, the sandbox in place of HeyGen and a folder for the videos."""
    env = {k: (API_KEY if v == PLACEHOLDER_KEY else v) for k, v in config_env.items()}
    return env | {
        "PATH": path,
        "HOME": str(place / "home"),
        "HEYGEN_API_BASE_URL": sandbox.base_url,
        "HEYGEN_OUTPUT_DIR": str(place / "videos"),
        "HEYGEN_POLL_INTERVAL": "0.1",
    }


async def drive(params: StdioServerParameters, sandbox: Sandbox, place: Path, mode: str = "auto") -> None:
    """What an assistant does first: list the tools, make a video, wait for it, get the file; and a person
    choosing a prompt's provider from the completions offered."""
    sandbox.reset()
    with (place / "server-stderr.log").open("a") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
            assert client.server_info is None or client.server_info.version == version("heygen-video-mcp")
            assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
            job = data_of(await client.call_tool("generate_video", {"prompt": "Lanterns drifting up a river, dusk"}))
            result = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
            done = data_of(result)
            assert done["status"] == "completed", text_of(result)
            assert Path(done["local_path"]).read_bytes() == sandbox.video_bytes(done["video_id"])
            offered = await client.complete(
                PromptReference(type="ref/prompt", name="cinematic_video"), {"name": "provider", "value": "veo"}
            )
            assert "veo_3_1" in offered.completion.values


def stdio(entry: dict[str, Any], env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=entry["command"], args=entry.get("args", []), env=env)


def test_the_readme_states_python_before_the_first_command() -> None:
    first_command = README.index("```bash")
    assert "Python 3.11" in README[:first_command]
    assert "after the install" in README  # what "no network needed" means


async def test_pipx_and_the_claude_desktop_config(pipx_bin: Path, sandbox: Sandbox, place: Path, mode: str) -> None:
    config = json.loads(snippet("Claude Desktop", "json"))
    example = json.loads((REPO / "claude_desktop_config.example.json").read_text())
    assert config == example
    [entry] = config["mcpServers"].values()
    assert entry["command"] == "heygen-video-mcp"
    env = client_env(entry["env"], sandbox, place, f"{pipx_bin}:{SYSTEM_PATH}")
    await drive(stdio(entry, env), sandbox, place, mode)


async def test_pipx_with_its_pip_backend(source: Path, offline: dict[str, str], sandbox: Sandbox, place: Path) -> None:
    """Without uv, pipx installs with pip."""
    env = offline | {k: str(place / f"pip-backend-{v}") for k, v in (("PIPX_HOME", "home"), ("PIPX_BIN_DIR", "bin"))}
    bin_dir = pipx_install(source, env | {"PIPX_DEFAULT_BACKEND": "pip"})
    metadata = json.loads((Path(env["PIPX_HOME"]) / "venvs" / "heygen-video-mcp" / "pipx_metadata.json").read_text())
    assert metadata["backend"] == "pip"
    server_env = client_env({"HEYGEN_API_KEY": PLACEHOLDER_KEY}, sandbox, place, f"{bin_dir}:{SYSTEM_PATH}")
    await drive(StdioServerParameters(command="heygen-video-mcp", env=server_env), sandbox, place)


async def test_pipx_and_the_vs_code_config(pipx_bin: Path, sandbox: Sandbox, place: Path) -> None:
    config = json.loads(snippet("VS Code", "json"))
    [entry] = config["servers"].values()
    assert entry["type"] == "stdio"
    # VS Code asks for each ${input:...} once (a password prompt) and passes what was typed.
    typed = {item["id"]: PLACEHOLDER_KEY for item in config["inputs"] if item.get("password")}
    config_env = {k: re.sub(r"\$\{input:([^}]+)\}", lambda m: typed[m.group(1)], v) for k, v in entry["env"].items()}
    env = client_env(config_env, sandbox, place, f"{pipx_bin}:{SYSTEM_PATH}")
    await drive(stdio(entry, env), sandbox, place)


async def test_uvx_from_a_git_url_in_the_cursor_config(
    source: Path, offline: dict[str, str], sandbox: Sandbox, place: Path, mode: str
) -> None:
    """Cursor starts `uvx --from git+URL heygen-video-mcp`: uv fetches, builds and runs it on first start."""
    config = json.loads(snippet("Cursor", "json"))
    [entry] = config["mcpServers"].values()
    assert entry["command"] == "uvx"
    entry["args"] = with_source(entry["args"], source)
    env = offline | client_env(entry["env"], sandbox, place, offline["PATH"])
    await drive(stdio(entry, env), sandbox, place, mode)


async def test_uvx_from_the_cloned_folder(source: Path, offline: dict[str, str], sandbox: Sandbox, place: Path) -> None:
    [line] = [argv for argv in commands("uvx") if argv[0] == "uvx"]
    assert line[:2] == ["uvx", "--from"] and line[-1] == "heygen-video-mcp"
    folder_form = [line[0], line[1], str(source), *line[3:]]  # "or the folder you cloned it to"
    env = offline | client_env({"HEYGEN_API_KEY": PLACEHOLDER_KEY}, sandbox, place, offline["PATH"])
    await drive(StdioServerParameters(command=folder_form[0], args=folder_form[1:], env=env), sandbox, place)
    await drive(StdioServerParameters(command=line[0], args=with_source(line, source)[1:], env=env), sandbox, place)


@pytest.fixture
def claude(place: Path) -> Iterator[Path]:
    if not CLAUDE.exists():
        pytest.skip(f"no Claude Code CLI at {CLAUDE}: .ci/run installs it (npm package @anthropic-ai/claude-code)")
    yield CLAUDE


async def test_claude_code_adds_it_for_every_project(
    claude: Path, pipx_bin: Path, source: Path, offline: dict[str, str], sandbox: Sandbox, place: Path
) -> None:
    """The README's `claude mcp add ... -s user` lines, run by Claude Code's own CLI into a temporary home:
    the server lands in the user config (every folder), and Claude Code's health check connects to it."""
    lines = [with_source(argv, source) for argv in commands("Claude Code") if argv[:3] == ["claude", "mcp", "add"]]
    assert len(lines) == 2  # with the pipx-installed command, and with uvx
    here, elsewhere = place / "project-a", place / "project-b"
    for folder in (here, elsewhere):
        folder.mkdir(exist_ok=True)
    for number, argv in enumerate(lines):
        assert argv[argv.index("-s") + 1] == "user"
        home = place / f"claude-home-{number}"
        home.mkdir()
        env = offline | {
            "HOME": str(home),
            "PATH": f"{pipx_bin}:{offline['PATH']}",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
        }
        run([str(claude), *argv[1:]], env, timeout=120, cwd=here)
        # In another folder than the one it was added in: a user-scope server is there too, and connects.
        listed = run([str(claude), "mcp", "list"], env, timeout=180, cwd=elsewhere)
        assert re.search(rf"{argv[3]}:.*Connected", listed), listed
        entry = json.loads((home / ".claude.json").read_text())["mcpServers"][argv[3]]
        server_env = offline | client_env(entry["env"], sandbox, place, env["PATH"])
        await drive(stdio(entry, server_env), sandbox, place)
