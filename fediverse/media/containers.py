"""Audio and video containers read as bytes, never decoded: ISO base media boxes (MP4, MOV, M4A)
and MP3 frames and ID3 tags; the user-data boxes and tags where phones write the GPS position are
blanked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")


def mp3_frame_start(data: bytes) -> int | None:
    """Offset of the first MPEG audio frame after any ID3v2 tags (and zero padding), or None."""
    start = id3_end(data)
    limit = min(len(data) - 4, start + 4096)
    while start < limit and data[start] == 0:
        start += 1
    if start + 4 > len(data):
        return None
    b1, b2 = data[start + 1], data[start + 2]
    sync = data[start] == 0xFF and b1 & 0xE0 == 0xE0
    if sync and b1 & 0x06 and (b1 >> 3) & 0x03 != 1 and b2 >> 4 not in (0, 0xF) and (b2 >> 2) & 0x03 != 3:
        return start
    return None


def id3_end(data: bytes) -> int:
    start = 0
    while data[start:start + 3] == b"ID3" and len(data) >= start + 10:
        size = 0
        for byte in data[start + 6:start + 10]:
            size = (size << 7) | (byte & 0x7F)
        start += 10 + size + (10 if data[start + 5] & 0x10 else 0)
    return min(start, len(data))


def iso_boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of each box between start and end."""
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos:pos + 4], "big")
        kind = bytes(data[pos + 4:pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos, pos + header, pos + size
        pos += size


def iso_brands(data: bytes) -> tuple[bytes, set[bytes]]:
    for kind, _start, payload, end in iso_boxes(data, 0, min(len(data), 4096)):
        if kind == b"ftyp":
            brands = {bytes(data[i:i + 4]) for i in range(payload + 8, end - 3, 4)}
            return bytes(data[payload:payload + 4]), brands | {bytes(data[payload:payload + 4])}
        break
    return b"", set()


@dataclass
class IsoInfo:
    has_video: bool = False
    has_audio: bool = False
    width: int | None = None
    height: int | None = None
    duration: float | None = None


def iso_info(data: bytes) -> IsoInfo:
    info = IsoInfo()
    for kind, _start, payload, end in iso_boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for child, _s, p, e in iso_boxes(data, payload, end):
            if child == b"mvhd" and e - p >= 32:
                version = data[p]
                if version == 1:
                    timescale = int.from_bytes(data[p + 20:p + 24], "big")
                    duration = int.from_bytes(data[p + 24:p + 32], "big")
                else:
                    timescale = int.from_bytes(data[p + 12:p + 16], "big")
                    duration = int.from_bytes(data[p + 16:p + 20], "big")
                if timescale:
                    info.duration = round(duration / timescale, 3)
            elif child == b"trak":
                _read_track(data, p, e, info)
        break
    return info


def _read_track(data: bytes, start: int, end: int, info: IsoInfo) -> None:
    handler = b""
    size: tuple[int, int] | None = None
    for kind, _s, p, e in iso_boxes(data, start, end):
        if kind == b"tkhd" and e - p >= 84:
            matrix = p + (52 if data[p] == 1 else 40)
            width = int.from_bytes(data[e - 8:e - 4], "big") >> 16
            height = int.from_bytes(data[e - 4:e], "big") >> 16
            a = int.from_bytes(data[matrix:matrix + 4], "big", signed=True)
            d = int.from_bytes(data[matrix + 16:matrix + 20], "big", signed=True)
            rotated = a == 0 and d == 0  # a 90° rotation: phones film portrait this way
            size = (height, width) if rotated else (width, height)
        elif kind == b"mdia":
            for sub, _s2, p2, e2 in iso_boxes(data, p, e):
                if sub == b"hdlr" and e2 - p2 >= 12:
                    handler = bytes(data[p2 + 8:p2 + 12])
    if handler == b"vide" and size and size[0] and size[1]:
        info.has_video = True
        if info.width is None:
            info.width, info.height = size
    elif handler == b"soun":
        info.has_audio = True


def blank_iso_metadata(data: bytes) -> bytes:
    """Turn user-data boxes (udta, meta, XMP uuid) into zero-filled `free` boxes of the same size:
    offsets in the file stay valid, players skip `free`, and the GPS position is gone."""
    spans: list[tuple[int, int, int]] = []

    def visit(start: int, end: int, depth: int) -> None:
        for kind, box, payload, box_end in iso_boxes(data, start, end):
            if kind in (b"udta", b"meta") or (kind == b"uuid" and data[payload:payload + 16] == XMP_UUID):
                spans.append((box, payload, box_end))
            elif kind in (b"moov", b"trak") and depth < 2:
                visit(payload, box_end, depth + 1)

    visit(0, len(data), 0)
    if not spans:
        return data
    out = bytearray(data)
    for box, payload, box_end in spans:
        out[box + 4:box + 8] = b"free"
        out[payload:box_end] = bytes(box_end - payload)
    return bytes(out)


def strip_id3(data: bytes) -> bytes:
    start = mp3_frame_start(data) or 0
    end = len(data)
    if end - start >= 128 and data[end - 128:end - 125] == b"TAG":
        end -= 128
    return data[start:end]
