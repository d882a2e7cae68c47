"""A symbolic link planted where a download writes: at its part file or at its final name. The server must
never write through it, nor record a link as the saved video."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mcp import Client

from heygen_video_mcp.server.sandbox import Sandbox
from tests.conftest import data_of, text_of
from tests.test_download import finished, unsaved  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(os.name != "posix", reason="symbolic links need no privilege on POSIX only"),
]

VICTIM = b"someone's notes, which no download may touch\n"


@pytest.mark.parametrize("where", [".bird.mp4.part", "bird.mp4"], ids=["part_file", "final_name"])
async def test_a_planted_symlink_is_not_written_through(
    unsaved: Client,  # noqa: F811
    tmp_path: Path,
    sandbox: Sandbox,
    where: str,
) -> None:
    data = data_of(await finished(unsaved))
    victim = tmp_path / "victim.txt"
    victim.write_bytes(VICTIM)
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / where).symlink_to(victim)

    result = await unsaved.call_tool(
        "download_video", {"execution_id": data["execution_id"], "directory": str(folder), "filename": "bird.mp4"}
    )

    assert victim.read_bytes() == VICTIM
    assert (folder / where).is_symlink() and (folder / where).readlink() == victim  # left as it was
    saved = [p for p in folder.iterdir() if p.name != where]
    assert not any(p.is_symlink() for p in saved), saved
    if where == "bird.mp4":  # the name is taken: the video goes beside it, never through it
        assert not result.is_error, text_of(result)
        local = Path(data_of(result)["local_path"])
        assert local == folder.resolve() / "bird-2.mp4" and not local.is_symlink()
        assert local.read_bytes() == sandbox.video_bytes(data["video_id"])
    else:
        assert result.is_error
        text = text_of(result)
        assert "symbolic link" in text and ".bird.mp4.part" in text and "nothing was saved" in text, text
        assert saved == []
