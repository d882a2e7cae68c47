"""Running it as a person would: where videos go on each system, the sandbox's help and a port already in use,
through the installed console script."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
from mcp import Client

from heygen_video_mcp.server.folders import videos_folder
from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import data_of
from .test_stdio import console_script, server_params

USER_DIRS = """# This file is written by xdg-user-dirs-update
XDG_DESKTOP_DIR="$HOME/Schreibtisch"
XDG_VIDEOS_DIR="$HOME/Filme"
"""


@pytest.mark.parametrize(
    ("platform", "home", "environ", "user_dirs", "expected"),
    [
        ("darwin", "/Users/ana", {}, None, PurePosixPath("/Users/ana/Movies")),
        (
            "win32",
            r"C:\Users\ana",
            {"USERPROFILE": r"D:\Profiles\ana"},
            None,
            PureWindowsPath(r"D:\Profiles\ana\Videos"),
        ),
        ("win32", r"C:\Users\ana", {}, None, PureWindowsPath(r"C:\Users\ana\Videos")),
        ("linux", "/home/ana", {}, None, PurePosixPath("/home/ana/Videos")),
        ("linux", "/home/ana", {}, USER_DIRS, PurePosixPath("/home/ana/Filme")),
        ("linux", "/home/ana", {}, 'XDG_VIDEOS_DIR="/media/films"\n', PurePosixPath("/media/films")),
        # Turned off by the desktop (pointing at home) or relative: the usual folder instead.
        ("linux", "/home/ana", {}, 'XDG_VIDEOS_DIR="$HOME/"\n', PurePosixPath("/home/ana/Videos")),
        ("linux", "/home/ana", {}, 'XDG_VIDEOS_DIR="films"\n', PurePosixPath("/home/ana/Videos")),
        ("freebsd14", "/home/ana", {}, None, PurePosixPath("/home/ana/Videos")),
    ],
)
def test_the_videos_folder_of_each_system(
    platform: str, home: str, environ: dict[str, str], user_dirs: str | None, expected: object
) -> None:
    assert videos_folder(platform, home, environ, user_dirs) == expected


@pytest.mark.anyio
@pytest.mark.parametrize("user_dirs", [None, USER_DIRS])
async def test_the_installed_server_saves_to_the_videos_folder(
    sandbox: Sandbox, tmp_path: Path, user_dirs: str | None
) -> None:
    sandbox.reset()
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    if user_dirs:
        (home / ".config" / "user-dirs.dirs").write_text(user_dirs)
    params = server_params(sandbox, tmp_path, HOME=str(home))
    assert params.env is not None
    for name in ("HEYGEN_OUTPUT_DIR", "XDG_CONFIG_HOME"):
        params.env.pop(name, None)
    async with Client(params) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": "Paper boats on a rainy gutter"}))
        done = data_of(await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]}))
    folder = home / ("Filme" if user_dirs else "Videos") / "HeyGen"
    assert Path(done["local_path"]).parent == folder
    assert (folder / "heygen-library.sqlite3").is_file()


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")} | {"COLUMNS": "200"}
    return subprocess.run([console_script(), *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_sandbox_help_shows_the_defaults() -> None:
    done = run_script("sandbox", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for default in ("(default: 127.0.0.1)", "(default: 8000)", "(default: sandbox-key)", "(default: 3.0)"):
        assert default in text


def test_a_port_in_use_is_one_line_not_a_traceback() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = run_script("sandbox", "--port", str(port))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"heygen-video-mcp sandbox: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "choose another --port (0 picks a free one)."
    ]


def test_an_address_not_of_this_machine_is_one_line() -> None:
    # 192.0.2.1 is reserved for documentation: no machine has it, and binding to it sends nothing.
    done = run_script("sandbox", "--host", "192.0.2.1", "--port", "0")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "heygen-video-mcp sandbox: cannot listen on 192.0.2.1:0: Cannot assign requested address; "
        "use --host 127.0.0.1 (this machine)."
    ]


def test_a_sandbox_in_a_program_reports_a_port_in_use() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken, pytest.raises(OSError, match="already in use"):
        Sandbox(port=taken.getsockname()[1]).start()
