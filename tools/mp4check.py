"""Is a downloaded file a whole MP4? Its top-level boxes must tile the file exactly.

Only the 8 or 16 byte box headers are read (seeking past each body), so checking a 2 GB video costs a
handful of small reads and no memory.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path


class Truncated(ValueError):
    """The boxes so far are sound but the file ends inside one: the start of an MP4, cut off."""


class Malformed(ValueError):
    """Not an MP4, or a damaged one."""


def check(path: Path) -> None:
    """Raise Truncated or Malformed unless the file starts with `ftyp`, has a `moov`, and its top-level box
    sizes add up to its size (size 1: a 64-bit size follows; size 0: the box runs to the end of the file)."""
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        offset, kinds = 0, []
        while offset < size:
            file.seek(offset)
            header = file.read(16)
            if len(header) < 8:
                raise Truncated(f"it ends inside a box header at byte {offset:,}")
            length, kind = struct.unpack(">I4s", header[:8])
            name = kind.decode("latin-1")
            if offset == 0 and kind != b"ftyp":
                raise Malformed("it does not start with an ftyp box")
            smallest = 8
            if length == 1:
                if len(header) < 16:
                    raise Truncated(f"it ends inside the header of its {name!r} box at byte {offset:,}")
                (length,) = struct.unpack(">Q", header[8:16])
                smallest = 16
            elif length == 0:  # only ever the last box: it takes the rest of the file
                length = size - offset
            if length < smallest:
                raise Malformed(f"its {name!r} box at byte {offset:,} declares an impossible size of {length}")
            if offset + length > size:
                raise Truncated(
                    f"its {name!r} box at byte {offset:,} needs {length:,} bytes but the file has {size - offset:,}"
                )
            kinds.append(kind)
            offset += length
    if not kinds:
        raise Malformed("it is empty")
    if b"moov" not in kinds:
        raise Malformed("it has no moov box, the index a player needs")
