"""Where videos go when HEYGEN_OUTPUT_DIR is not set: the person's own Videos folder, as each system names it.

Everything the choice depends on comes in as arguments, so each system's case can be checked on any machine.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

APP_FOLDER = "HeyGen"
_VIDEOS_LINE = re.compile(r'^\s*XDG_VIDEOS_DIR\s*=\s*"([^"]*)"\s*$', re.MULTILINE)


def videos_folder(platform: str, home: str, environ: Mapping[str, str], user_dirs: str | None) -> PurePath:
    """macOS: ~/Movies. Windows: %USERPROFILE%\\Videos. Linux and other Unix: XDG_VIDEOS_DIR from the
    xdg-user-dirs file `user_dirs` (its text, when there is one), else ~/Videos."""
    if platform == "darwin":
        return PurePosixPath(home, "Movies")
    if platform == "win32":
        return PureWindowsPath(environ.get("USERPROFILE") or home, "Videos")
    chosen = _VIDEOS_LINE.findall(user_dirs or "")
    if chosen:  # the last assignment wins, as in the shell that reads this file
        folder = PurePosixPath(chosen[-1].replace("$HOME", home))
        # A folder the desktop turned off points at home itself; a relative one is not a folder to trust.
        if folder.is_absolute() and folder != PurePosixPath(home):
            return folder
    return PurePosixPath(home, "Videos")


def default_output_dir() -> Path:
    """This computer's Videos folder + /HeyGen."""
    user_dirs = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "user-dirs.dirs"
    try:
        text: str | None = user_dirs.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None
    return Path(videos_folder(sys.platform, str(Path.home()), os.environ, text)) / APP_FOLDER
