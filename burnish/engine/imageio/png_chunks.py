"""PNG chunk access without decoding pixels: IHDR, eXIf, XMP (iTXt), tRNS, truncation checks."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator

from burnish.engine.imageio.common import _one_line, log
from burnish.errors import InputError

# the keyword of the iTXt chunk that holds a PNG's XMP packet (XMP specification, part 3)
_XMP_KEYWORD = b"XML:com.adobe.xmp"

# a compressed iTXt inflates to at most this much: a few bytes must not become gigabytes
_XMP_MAX_BYTES = 64 << 20


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


def _png_xmp(path) -> bytes | None:
    """The XMP packet of the ``XML:com.adobe.xmp`` iTXt chunk, wherever it lies.

    Only iTXt chunks with that keyword are read in full. A malformed one is dropped with a
    warning, like unreadable EXIF: the pixels matter more than the metadata.
    """
    prefix = _XMP_KEYWORD + b"\x00"
    for kind, start, length in _png_chunks(path):
        if kind != b"iTXt" or length < len(prefix):
            continue
        with open(path, "rb") as file:
            file.seek(start)
            if file.read(len(prefix)) != prefix:
                continue
            body = file.read(length - len(prefix))
        try:
            return _itxt_text(body)
        except (ValueError, zlib.error) as error:
            log.warning("ignoring unreadable XMP in %s: %s", path, _one_line(error))
            return None
    return None


def _itxt_text(body: bytes) -> bytes:
    """The text of an iTXt chunk after its keyword: flags, language, translated keyword, text."""
    if len(body) < 2:
        raise ValueError("iTXt chunk cut short")
    compressed, method = body[0], body[1]
    parts = body[2:].split(b"\x00", 2)  # language tag, translated keyword, text
    if len(parts) != 3:
        raise ValueError("iTXt chunk cut short")
    text = parts[2]
    if not compressed:
        return text
    if method != 0:
        raise ValueError(f"unknown iTXt compression method {method}")
    inflater = zlib.decompressobj()
    text = inflater.decompress(text, _XMP_MAX_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"packet larger than {_XMP_MAX_BYTES >> 20} MiB once inflated")
    if not inflater.eof:
        raise ValueError("compressed text cut short")
    return text


def _png_has_trns(path) -> bool:
    return any(kind == b"tRNS" for kind, _, _ in _png_chunks(path))
