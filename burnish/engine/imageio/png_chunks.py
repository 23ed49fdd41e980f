"""PNG chunk access without decoding pixels: IHDR, eXIf, tRNS, and truncation checks."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from burnish.errors import InputError


def _png_ihdr(path) -> tuple[int, int, int, int]:
    """Width, height, bit depth and colour type from the IHDR chunk (bytes 16-25)."""
    with open(path, "rb") as file:
        head = file.read(33)
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise InputError("corrupt PNG file: no IHDR chunk", path=path)
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", head[16:26])
    return width, height, bit_depth, colour_type


def _png_chunks(path) -> Iterator[tuple[bytes, int, int]]:
    """(type, data offset, length) of each chunk, seeking past the data; stops at IEND or EOF."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        file.seek(8)
        while True:
            head = file.read(8)
            if len(head) < 8:
                return
            length, kind = struct.unpack(">I4s", head)
            start = file.tell()
            yield kind, start, length
            if kind == b"IEND" or start + length + 4 > size:
                return
            file.seek(length + 4, os.SEEK_CUR)


def _png_is_cut_short(path) -> bool:
    """True when the PNG ends before its IEND chunk (or inside a chunk)."""
    try:
        size = os.path.getsize(path)
        for kind, start, length in _png_chunks(path):
            if start + length + 4 > size:
                return True
            if kind == b"IEND":
                return False
        return True
    except OSError:
        return False


def _png_exif(path) -> bytes | None:
    """The raw eXIf chunk wherever it lies (it may follow the pixel data)."""
    for kind, start, length in _png_chunks(path):
        if kind == b"eXIf":
            with open(path, "rb") as file:
                file.seek(start)
                return file.read(length)
    return None


def _png_has_trns(path) -> bool:
    return any(kind == b"tRNS" for kind, _, _ in _png_chunks(path))
