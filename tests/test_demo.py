"""The README's first command: `heygen-video-mcp demo` runs the whole flow against the built-in sandbox."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .test_stdio import console_script


def test_demo_makes_a_video_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")} | {"TMPDIR": str(tmp_path)}
    done = subprocess.run([console_script(), "demo"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "built-in HeyGen sandbox" in out
    assert "wait_for_video (call 2)" in out  # a render outlasts one bounded wait, and the demo calls again
    assert re.search(r"progress +\d+\.\d s of about \d+ s +processing", out)
    saved = re.search(r"Saved to: (.+\.mp4) \(([\d,]+) bytes\)", out)
    assert saved, out
    path = Path(saved.group(1))
    assert path.is_relative_to(tmp_path)
    data = path.read_bytes()
    assert data[4:8] == b"ftyp" and b"avc1" in data and len(data) == int(saved.group(2).replace(",", ""))
