"""The README's first command: `heygen-video-mcp demo` runs the whole flow against the built-in sandbox."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .test_stdio import console_script


def run_demo(tmp_path: Path, **env: str) -> tuple[str, Path, int]:
    """The demo's output, the video it says it saved, and the size it printed."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")} | {"TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [console_script(), "demo"], env=base | env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    saved = re.search(r"Saved to: (.+\.mp4) \(([\d,]+) bytes\)", done.stdout)
    assert saved, done.stdout
    return done.stdout, Path(saved.group(1)), int(saved.group(2).replace(",", ""))


def test_demo_makes_a_video_end_to_end_and_removes_its_temporary_folder(tmp_path: Path) -> None:
    out, path, size = run_demo(tmp_path)
    assert "built-in HeyGen sandbox" in out
    assert "wait_for_video (call 2)" in out  # a render outlasts one bounded wait, and the demo calls again
    assert re.search(r"progress +\d+\.\d s of about \d+ s +processing", out)
    assert "temporary folder, removed at the end" in out
    assert path.is_relative_to(tmp_path) and size > 1000
    assert not path.exists()
    assert list(tmp_path.glob("heygen-demo-*")) == []  # nothing left behind
    assert out.rstrip().endswith("The temporary folder is now removed; set HEYGEN_OUTPUT_DIR to keep the video.")


def test_demo_keeps_the_video_in_heygen_output_dir(tmp_path: Path) -> None:
    out, path, size = run_demo(tmp_path, HEYGEN_OUTPUT_DIR=str(tmp_path / "kept"))
    assert f"Videos go to {tmp_path / 'kept'}" in out
    data = path.read_bytes()
    assert path.parent == tmp_path / "kept"
    assert data[4:8] == b"ftyp" and b"avc1" in data and len(data) == size
