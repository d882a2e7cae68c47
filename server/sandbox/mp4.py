"""A real, playable H.264 MP4 written in pure Python, for the sandbox's video URLs.

There is no encoder here: every macroblock of a key frame is I_PCM (raw 8-bit 4:2:0
samples), and the frames in between are P slices that skip every macroblock, so each
is a few bytes that repeat the previous picture. A new key frame every half second
changes colour and moves a square, so a player visibly shows motion.
"""

from __future__ import annotations

import colorsys
import hashlib
import struct
from collections.abc import Iterator

FPS = 12
FRAMES_PER_IDR = FPS // 2
LONG_SIDE = 256
TIMESCALE = FPS * 1000
PROFILE_BASELINE = 66
CONSTRAINT_FLAGS = 0xC0  # constraint_set0 and set1: constrained baseline
LEVEL = 30
LOG2_MAX_FRAME_NUM = 4
MB_TYPE_I_PCM = 25
COMPRESSOR = b"heygen-sandbox"
MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


class BitWriter:
    """MSB-first bit writer for H.264 RBSP syntax."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._acc = 0
        self._count = 0

    def bits(self, value: int, count: int) -> None:
        for shift in range(count - 1, -1, -1):
            self._acc = (self._acc << 1) | ((value >> shift) & 1)
            self._count += 1
            if self._count == 8:
                self._out.append(self._acc)
                self._acc = 0
                self._count = 0

    def ue(self, value: int) -> None:
        code = value + 1
        length = code.bit_length()
        self.bits(0, length - 1)
        self.bits(code, length)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def align_zero(self) -> None:
        if self._count:
            self.bits(0, 8 - self._count)

    def raw(self, data: bytes) -> None:
        self._out += data

    def rbsp(self) -> bytes:
        """The bytes so far, closed with rbsp_trailing_bits."""
        self.bits(1, 1)
        self.align_zero()
        return bytes(self._out)


def escape(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes so no start code appears inside a NAL unit."""
    if b"\x00\x00" not in rbsp:
        return rbsp
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def nal(ref_idc: int, unit_type: int, rbsp: bytes) -> bytes:
    return bytes([(ref_idc << 5) | unit_type]) + escape(rbsp)


def frame_size(width_ratio: int, height_ratio: int) -> tuple[int, int]:
    """Pixel size in the given ratio: long side 256, both sides multiples of 16."""
    short = LONG_SIDE * min(width_ratio, height_ratio) / max(width_ratio, height_ratio)
    short_px = max(16, round(short / 16) * 16)
    return (LONG_SIDE, short_px) if width_ratio >= height_ratio else (short_px, LONG_SIDE)


def sps(width: int, height: int) -> bytes:
    w = BitWriter()
    w.bits(PROFILE_BASELINE, 8)
    w.bits(CONSTRAINT_FLAGS, 8)
    w.bits(LEVEL, 8)
    w.ue(0)  # seq_parameter_set_id
    w.ue(LOG2_MAX_FRAME_NUM - 4)
    w.ue(2)  # pic_order_cnt_type 2: output order is decode order, no B frames
    w.ue(1)  # max_num_ref_frames
    w.bits(0, 1)  # gaps_in_frame_num_value_allowed_flag
    w.ue(width // 16 - 1)
    w.ue(height // 16 - 1)
    w.bits(1, 1)  # frame_mbs_only_flag
    w.bits(1, 1)  # direct_8x8_inference_flag
    w.bits(0, 1)  # frame_cropping_flag
    w.bits(0, 1)  # vui_parameters_present_flag
    return nal(3, 7, w.rbsp())


def pps() -> bytes:
    w = BitWriter()
    w.ue(0)  # pic_parameter_set_id
    w.ue(0)  # seq_parameter_set_id
    w.bits(0, 1)  # entropy_coding_mode_flag: CAVLC
    w.bits(0, 1)  # bottom_field_pic_order_in_frame_present_flag
    w.ue(0)  # num_slice_groups_minus1
    w.ue(0)  # num_ref_idx_l0_default_active_minus1
    w.ue(0)  # num_ref_idx_l1_default_active_minus1
    w.bits(0, 1)  # weighted_pred_flag
    w.bits(0, 2)  # weighted_bipred_idc
    w.se(0)  # pic_init_qp_minus26
    w.se(0)  # pic_init_qs_minus26
    w.se(0)  # chroma_qp_index_offset
    w.bits(1, 1)  # deblocking_filter_control_present_flag, so slices can turn it off
    w.bits(0, 1)  # constrained_intra_pred_flag
    w.bits(0, 1)  # redundant_pic_cnt_present_flag
    return nal(3, 8, w.rbsp())


def idr_slice(macroblocks: list[bytes], idr_pic_id: int) -> bytes:
    w = BitWriter()
    w.ue(0)  # first_mb_in_slice
    w.ue(7)  # slice_type: I, and every slice of the picture is I
    w.ue(0)  # pic_parameter_set_id
    w.bits(0, LOG2_MAX_FRAME_NUM)  # frame_num
    w.ue(idr_pic_id)
    w.bits(0, 1)  # no_output_of_prior_pics_flag
    w.bits(0, 1)  # long_term_reference_flag
    w.se(0)  # slice_qp_delta
    w.ue(1)  # disable_deblocking_filter_idc
    for samples in macroblocks:
        w.ue(MB_TYPE_I_PCM)
        w.align_zero()  # pcm_alignment_zero_bit
        w.raw(samples)
    return nal(3, 5, w.rbsp())


def skip_slice(frame_num: int, mb_count: int) -> bytes:
    w = BitWriter()
    w.ue(0)  # first_mb_in_slice
    w.ue(5)  # slice_type: P, and every slice of the picture is P
    w.ue(0)  # pic_parameter_set_id
    w.bits(frame_num % (1 << LOG2_MAX_FRAME_NUM), LOG2_MAX_FRAME_NUM)
    w.bits(0, 1)  # num_ref_idx_active_override_flag
    w.bits(0, 1)  # ref_pic_list_modification_flag_l0
    w.bits(0, 1)  # adaptive_ref_pic_marking_mode_flag
    w.se(0)  # slice_qp_delta
    w.ue(1)  # disable_deblocking_filter_idc
    w.ue(mb_count)  # mb_skip_run: the whole picture repeats the reference
    return nal(2, 1, w.rbsp())


def ycbcr(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    """Studio-range BT.601 samples for an HSV colour."""
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return round(y), round(cb), round(cr)


def picture(width: int, height: int, hue: float, step: int) -> list[bytes]:
    """One key frame as I_PCM macroblock payloads: a shaded background and a moving square."""
    side = min(width, height) // 3 // 2 * 2
    left = (step * width // 7) % (width - side) // 2 * 2
    top = (height - side) // 2
    _, cb, cr = ycbcr(hue, 0.7, 0.8)
    luma: list[bytes] = []
    for row in range(height):
        y, _, _ = ycbcr(hue, 0.7, 0.45 + 0.45 * row / height)
        line = bytearray([y]) * width
        if top <= row < top + side:
            line[left : left + side] = bytes([235]) * side
        luma.append(bytes(line))
    cb_rows: list[bytes] = []
    cr_rows: list[bytes] = []
    for row in range(height // 2):
        cb_line = bytearray([cb]) * (width // 2)
        cr_line = bytearray([cr]) * (width // 2)
        if top // 2 <= row < (top + side) // 2:
            cb_line[left // 2 : (left + side) // 2] = bytes([128]) * (side // 2)
            cr_line[left // 2 : (left + side) // 2] = bytes([128]) * (side // 2)
        cb_rows.append(bytes(cb_line))
        cr_rows.append(bytes(cr_line))
    macroblocks: list[bytes] = []
    for mby in range(height // 16):
        for mbx in range(width // 16):
            x, y = mbx * 16, mby * 16
            parts = [luma[y + i][x : x + 16] for i in range(16)]
            parts += [cb_rows[y // 2 + i][x // 2 : x // 2 + 8] for i in range(8)]
            parts += [cr_rows[y // 2 + i][x // 2 : x // 2 + 8] for i in range(8)]
            macroblocks.append(b"".join(parts))
    return macroblocks


def box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def avc1(width: int, height: int, sps_nal: bytes, pps_nal: bytes) -> bytes:
    avcc = box(
        b"avcC",
        bytes([1, PROFILE_BASELINE, CONSTRAINT_FLAGS, LEVEL, 0xFF, 0xE1]),
        struct.pack(">H", len(sps_nal)),
        sps_nal,
        b"\x01",
        struct.pack(">H", len(pps_nal)),
        pps_nal,
    )
    return box(
        b"avc1",
        bytes(6),
        struct.pack(">H", 1),  # data_reference_index
        bytes(16),
        struct.pack(">HHIIIH", width, height, 0x480000, 0x480000, 0, 1),
        bytes([len(COMPRESSOR)]) + COMPRESSOR.ljust(31, b"\x00"),
        struct.pack(">Hh", 0x18, -1),
        avcc,
    )


def moov(width: int, height: int, samples: list[bytes], sync: list[int], chunk_offset: int) -> bytes:
    """The movie header for one video track whose samples sit in a single chunk."""
    frames = len(samples)
    media_duration = frames * (TIMESCALE // FPS)
    movie_duration = round(frames * 1000 / FPS)
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1(width, height, sps(width, height), pps())),
        full_box(b"stts", 0, 0, struct.pack(">III", 1, frames, TIMESCALE // FPS)),
        full_box(b"stss", 0, 0, struct.pack(f">I{len(sync)}I", len(sync), *sync)),
        full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, frames, 1)),
        full_box(b"stsz", 0, 0, struct.pack(f">II{frames}I", 0, frames, *map(len, samples))),
        full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
    )
    minf = box(
        b"minf",
        full_box(b"vmhd", 0, 1, bytes(8)),
        box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1))),
        stbl,
    )
    mdia = box(
        b"mdia",
        full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, media_duration, 0x55C4, 0)),
        full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00"),
        minf,
    )
    tkhd = full_box(
        b"tkhd",
        0,
        3,  # track enabled and in movie
        struct.pack(">IIIII", 0, 0, 1, 0, movie_duration),
        bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0),
        MATRIX,
        struct.pack(">II", width << 16, height << 16),
    )
    mvhd = full_box(
        b"mvhd",
        0,
        0,
        struct.pack(">IIIIIH", 0, 0, 1000, movie_duration, 0x10000, 0x100),
        bytes(10),
        MATRIX,
        bytes(24),
        struct.pack(">I", 2),  # next_track_ID
    )
    return box(b"moov", mvhd, box(b"trak", tkhd, mdia))


def mp4_bytes(width_ratio: int, height_ratio: int, seconds: float, *, seed: str) -> bytes:
    """A complete MP4 of about `seconds`, in the given aspect ratio; `seed` picks the colours."""
    width, height = frame_size(width_ratio, height_ratio)
    mb_count = (width // 16) * (height // 16)
    hue = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big") / 2**32
    samples: list[bytes] = []
    sync: list[int] = []
    for index in range(max(1, round(seconds * FPS))):
        step, offset = divmod(index, FRAMES_PER_IDR)
        if offset == 0:
            sync.append(index + 1)
            unit = idr_slice(picture(width, height, hue + step * 0.13, step), step % 2)
        else:
            unit = skip_slice(offset, mb_count)
        samples.append(struct.pack(">I", len(unit)) + unit)
    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41")
    # stco holds an absolute offset; moov's size does not depend on its value.
    moov_size = len(moov(width, height, samples, sync, 0))
    header = ftyp + moov(width, height, samples, sync, len(ftyp) + moov_size + 8)
    return header + box(b"mdat", *samples)


def iter_mp4(
    video: bytes, *, total_size: int | None = None, chunk: int = 65536, start: int = 0, stop: int | None = None
) -> Iterator[bytes]:
    """Chunks of `video`, then a top-level `free` box of zeros so the total is exactly `total_size`.

    `start` and `stop` pick the half-open byte span [start, stop) of that whole, for a Range
    request, without building the padded body (it may be hundreds of megabytes).
    Checks sizes at once (not on first iteration) so a server can fail before it answers.
    """
    padding = 0 if total_size is None else total_size - len(video)
    if padding != 0 and not 8 <= padding <= 0xFFFFFFFF:
        raise ValueError(f"cannot pad a {len(video)}-byte MP4 to {total_size} bytes")
    total = len(video) + padding
    stop = total if stop is None else stop
    if not 0 <= start <= stop <= total:
        raise ValueError(f"bytes {start}-{stop} are not within a {total}-byte MP4")
    return padded(video, padding, chunk, start, stop)


def padded(video: bytes, padding: int, chunk: int, start: int, stop: int) -> Iterator[bytes]:
    header = struct.pack(">I", padding) + b"free" if padding else b""
    base = 0
    for part in (video, header):
        for offset in range(max(start, base), min(stop, base + len(part)), chunk):
            yield part[offset - base : min(offset + chunk, stop) - base]
        base += len(part)
    zeros = bytes(chunk)
    for offset in range(max(start, base), stop, chunk):
        yield zeros[: min(chunk, stop - offset)]
