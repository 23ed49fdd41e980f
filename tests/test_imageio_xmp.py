"""Tests of XMP packets in burnish.engine.imageio: read, write, and where other tools find them."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, PngImagePlugin

from burnish.engine.imageio import ImageMeta, open_writer, read_image, write_image
from burnish.errors import OutputError

HEIGHT, WIDTH = 23, 37  # odd sizes, smaller than one TIFF tile

SUFFIX = {"PNG": ".png", "TIFF": ".tif", "JPEG": ".jpg", "WEBP": ".webp"}

XMP_NAMESPACE = b"http://ns.adobe.com/xap/1.0/\x00"  # the JPEG APP1 header of standard XMP

PACKET = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about=""'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
    " Iptc4xmpExt:DigitalSourceType="
    '"http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced">'
    '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Café à Zürich — 夜の街 ✓</rdf:li>'
    "</rdf:Alt></dc:title>"
    "</rdf:Description>"
    "</rdf:RDF>"
    "</x:xmpmeta>"
    '<?xpacket end="w"?>'
).encode("utf-8")

# (format, channels, dtype): RGB and RGBA where the format holds them, 16-bit for PNG and TIFF
CASES = (
    [("PNG", c, d) for c in (3, 4) for d in (np.uint8, np.uint16)]
    + [("TIFF", c, d) for c in (3, 4) for d in (np.uint8, np.uint16)]
    + [("JPEG", 3, np.uint8)]
    + [("WEBP", c, np.uint8) for c in (3, 4)]
)
FORMATS = ("PNG", "JPEG", "TIFF", "WEBP")


def random_pixels(rng, channels, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    top = np.iinfo(dtype).max
    return rng.integers(0, top, (HEIGHT, WIDTH, channels), dtype=dtype, endpoint=True)


def leftovers(folder) -> list[str]:
    return sorted(os.listdir(folder))


# ---- what other tools see: parsed here, independently of burnish's reader ------------------


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk of a PNG held in memory."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = [], 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks.append((kind, body))
        position += 12 + length
    return chunks


def png_xmp_chunk(data: bytes) -> tuple[int, bytes]:
    """(index among the chunks, text) of the one uncompressed ``XML:com.adobe.xmp`` iTXt chunk."""
    found = []
    for index, (kind, body) in enumerate(png_chunks(data)):
        if kind == b"iTXt" and body.startswith(b"XML:com.adobe.xmp\x00"):
            rest = body[len(b"XML:com.adobe.xmp\x00") :]
            assert rest[:2] == b"\x00\x00"  # not compressed, method 0
            language, translated, text = rest[2:].split(b"\x00", 2)
            assert language == b"" and translated == b""
            found.append((index, text))
    assert len(found) == 1
    return found[0]


def jpeg_xmp_segments(data: bytes) -> list[bytes]:
    """The packets of the APP1 segments with the XMP namespace header, from SOI to SOS."""
    assert data[:2] == b"\xff\xd8"
    packets, position = [], 2
    while True:
        marker = data[position : position + 2]
        assert marker[0] == 0xFF
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        body = data[position + 4 : position + 2 + length]
        if marker == b"\xff\xe1" and body.startswith(XMP_NAMESPACE):
            packets.append(body[len(XMP_NAMESPACE) :])
        if marker == b"\xff\xda":  # start of scan: the metadata segments are all before it
            return packets
        position += 2 + length


def webp_chunks(data: bytes) -> dict[bytes, bytes]:
    """The chunks of a RIFF WebP file, by FourCC."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    (riff_size,) = struct.unpack("<I", data[4:8])
    assert riff_size + 8 == len(data)
    chunks, position = {}, 12
    while position < len(data):
        kind, length = struct.unpack("<4sI", data[position : position + 8])
        chunks[kind] = data[position + 8 : position + 8 + length]
        position += 8 + length + (length & 1)  # chunks are padded to even sizes
    return chunks


def assert_xmp_where_tools_look(path, fmt: str, packet: bytes) -> None:
    data = path.read_bytes()
    if fmt == "PNG":
        index, text = png_xmp_chunk(data)
        kinds = [kind for kind, _ in png_chunks(data)]
        assert index < kinds.index(b"IDAT")
        assert text == packet
    elif fmt == "JPEG":
        assert jpeg_xmp_segments(data) == [packet]
    elif fmt == "TIFF":
        with tifffile.TiffFile(path) as tif:
            tag = tif.pages[0].tags[700]
            assert int(tag.dtype) == 1  # BYTE
            assert tag.value == packet
    else:
        assert webp_chunks(data)[b"XMP "] == packet
    with Image.open(path) as image:  # Pillow finds it too
        assert image.info["xmp"] == packet


# ---- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "channels", "dtype"), CASES)
def test_xmp_round_trip_is_exact_and_where_tools_look(tmp_path, rng, fmt, channels, dtype):
    pixels = random_pixels(rng, channels, dtype)
    target = tmp_path / f"image{SUFFIX[fmt]}"

    write_image(target, pixels, meta=ImageMeta(fmt, xmp=PACKET), quality=100)
    decoded, meta = read_image(target)

    assert meta.xmp == PACKET
    assert decoded.dtype == np.dtype(dtype) and decoded.shape == pixels.shape
    assert_xmp_where_tools_look(target, fmt, PACKET)


@pytest.mark.parametrize(("fmt", "channels", "dtype"), CASES)
def test_xmp_does_not_change_the_pixels(tmp_path, rng, fmt, channels, dtype):
    pixels = random_pixels(rng, channels, dtype)
    plain, tagged = tmp_path / f"plain{SUFFIX[fmt]}", tmp_path / f"tagged{SUFFIX[fmt]}"

    write_image(plain, pixels, quality=100)
    write_image(tagged, pixels, meta=ImageMeta(fmt, xmp=PACKET), quality=100)

    plain_pixels, plain_meta = read_image(plain)
    tagged_pixels, _ = read_image(tagged)
    np.testing.assert_array_equal(tagged_pixels, plain_pixels)
    if fmt != "JPEG":  # the others are lossless here (WebP at quality 100)
        np.testing.assert_array_equal(tagged_pixels, pixels)
    assert plain_meta.xmp is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_xmp_reads_as_none(tmp_path, rng, fmt):
    target = tmp_path / f"image{SUFFIX[fmt]}"
    write_image(target, random_pixels(rng, 3, np.uint8), meta=ImageMeta(fmt, xmp=None))
    assert read_image(target)[1].xmp is None
    if fmt == "PNG":
        assert all(kind != b"iTXt" for kind, _ in png_chunks(target.read_bytes()))


@pytest.mark.parametrize(("fmt", "channels", "dtype"), CASES)
def test_writing_twice_gives_the_same_bytes(tmp_path, rng, fmt, channels, dtype):
    pixels = random_pixels(rng, channels, dtype)
    meta = ImageMeta(fmt, xmp=PACKET)
    first, second = tmp_path / f"first{SUFFIX[fmt]}", tmp_path / f"second{SUFFIX[fmt]}"

    write_image(first, pixels, meta=meta)
    write_image(second, pixels, meta=meta)

    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("source_fmt", FORMATS)
@pytest.mark.parametrize("target_fmt", FORMATS)
def test_xmp_is_carried_from_input_to_output(tmp_path, rng, source_fmt, target_fmt):
    source = tmp_path / f"source{SUFFIX[source_fmt]}"
    target = tmp_path / f"target{SUFFIX[target_fmt]}"
    write_image(source, random_pixels(rng, 3, np.uint8), meta=ImageMeta(source_fmt, xmp=PACKET))

    pixels, meta = read_image(source)
    write_image(target, pixels, meta=meta)

    assert read_image(target)[1].xmp == PACKET
    assert_xmp_where_tools_look(target, target_fmt, PACKET)


def test_xmp_is_kept_beside_icc_and_exif(tmp_path, rng):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[305] = "burnish-test 1.0"  # Software
    meta = ImageMeta("JPEG", icc_profile=icc, exif=exif.tobytes(), xmp=PACKET)
    for fmt in FORMATS:
        target = tmp_path / f"all{SUFFIX[fmt]}"
        write_image(target, random_pixels(rng, 3, np.uint8), meta=meta)
        _, read_back = read_image(target)
        assert read_back.xmp == PACKET
        assert read_back.icc_profile == icc
        assert read_back.exif is not None


# ---- the JPEG segment limit -----------------------------------------------------------------


def test_jpeg_takes_an_xmp_packet_of_65502_bytes(tmp_path, rng):
    packet = PACKET + b" " * (65_502 - len(PACKET))  # XMP packets are padded with spaces
    target = tmp_path / "largest.jpg"

    write_image(target, random_pixels(rng, 3, np.uint8), meta=ImageMeta("JPEG", xmp=packet))

    assert read_image(target)[1].xmp == packet
    assert jpeg_xmp_segments(target.read_bytes()) == [packet]


def test_jpeg_refuses_a_larger_xmp_packet_before_encoding(tmp_path):
    packet = PACKET + b" " * (65_503 - len(PACKET))
    target = tmp_path / "too-much.jpg"

    with pytest.raises(OutputError, match="XMP packet is 65,503 bytes") as error:
        open_writer(
            target,
            width=WIDTH,
            height=HEIGHT,
            channels=3,
            dtype=np.uint8,
            meta=ImageMeta("JPEG", xmp=packet),
        )

    message = str(error.value)
    assert str(target) in message and "\n" not in message
    assert leftovers(tmp_path) == []  # no target, no .partial- temporary file


def test_write_image_with_a_too_large_jpeg_xmp_leaves_nothing(tmp_path, rng):
    target = tmp_path / "too-much.jpg"
    with pytest.raises(OutputError, match="JPEG APP1 segment"):
        write_image(
            target,
            random_pixels(rng, 3, np.uint8),
            meta=ImageMeta("JPEG", xmp=PACKET + b" " * 70_000),  # a packet that parses
        )
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_other_formats_take_a_large_xmp_packet(tmp_path, rng, fmt):
    packet = PACKET + b" " * 100_000
    target = tmp_path / f"large{SUFFIX[fmt]}"
    write_image(target, random_pixels(rng, 3, np.uint8), meta=ImageMeta(fmt, xmp=packet))
    assert read_image(target)[1].xmp == packet


# ---- XMP as other writers store it ----------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])  # Pillow's and pypng's read paths
def test_png_itxt_from_pillow_compressed_or_not(tmp_path, rng, compressed, dtype):
    pixels = random_pixels(rng, 3, dtype)
    plain = tmp_path / "plain.png"
    write_image(plain, pixels)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", PACKET.decode("utf-8"), zip=compressed)
    target = tmp_path / "pillow.png"
    # Pillow cannot save 16-bit RGB: its chunk goes into burnish's file instead
    target.write_bytes(with_chunk_after(plain.read_bytes(), b"IHDR", pillow_itxt(info)))

    decoded, meta = read_image(target)

    assert meta.xmp == PACKET
    np.testing.assert_array_equal(decoded, pixels)


def pillow_itxt(info: PngImagePlugin.PngInfo) -> tuple[bytes, bytes]:
    """The (type, data) of the one chunk Pillow would write for ``info``."""
    ((kind, body, *_),) = info.chunks
    return kind, body


def with_chunk_after(data: bytes, after: bytes, chunk: tuple[bytes, bytes]) -> bytes:
    """A PNG with one more chunk, right after the last chunk of type ``after``."""
    chunks = png_chunks(data)
    last = max(i for i, (kind, _) in enumerate(chunks) if kind == after)
    chunks.insert(last + 1, chunk)
    out = bytearray(data[:8])
    for kind, body in chunks:
        out += struct.pack(">I4s", len(body), kind) + body
        out += struct.pack(">I", zlib.crc32(kind + body))
    return bytes(out)


def itxt(packet: bytes, *, compressed: bool) -> tuple[bytes, bytes]:
    text = zlib.compress(packet) if compressed else packet
    flag = b"\x01\x00" if compressed else b"\x00\x00"
    return b"iTXt", b"XML:com.adobe.xmp\x00" + flag + b"en\x00XMP\x00" + text


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_xmp_after_the_pixel_data_is_found(tmp_path, rng, dtype):
    pixels = random_pixels(rng, 4, dtype)
    plain = tmp_path / "plain.png"
    write_image(plain, pixels)
    target = tmp_path / "late.png"
    target.write_bytes(with_chunk_after(plain.read_bytes(), b"IDAT", itxt(PACKET, compressed=True)))

    decoded, meta = read_image(target)

    assert meta.xmp == PACKET
    np.testing.assert_array_equal(decoded, pixels)


def test_png_other_itxt_chunks_are_not_xmp(tmp_path, rng):
    plain = tmp_path / "plain.png"
    write_image(plain, random_pixels(rng, 3, np.uint8))
    other = (b"iTXt", b"Comment\x00\x00\x00\x00\x00" + "naïve".encode())
    target = tmp_path / "comment.png"
    target.write_bytes(with_chunk_after(plain.read_bytes(), b"IHDR", other))
    assert read_image(target)[1].xmp is None


def test_png_unreadable_xmp_is_dropped_not_fatal(tmp_path, rng, caplog):
    pixels = random_pixels(rng, 3, np.uint8)
    plain = tmp_path / "plain.png"
    write_image(plain, pixels)
    kind, body = itxt(PACKET, compressed=True)
    target = tmp_path / "broken.png"
    target.write_bytes(with_chunk_after(plain.read_bytes(), b"IHDR", (kind, body[:-20])))

    decoded, meta = read_image(target)

    assert meta.xmp is None
    np.testing.assert_array_equal(decoded, pixels)
    assert "unreadable XMP" in caplog.text


@pytest.mark.parametrize("tag_type", [1, 7])  # BYTE, UNDEFINED
def test_tiff_xmp_of_either_binary_type(tmp_path, rng, tag_type):
    pixels = random_pixels(rng, 3, np.uint8)
    target = tmp_path / "other.tif"
    tag = (700, tag_type, len(PACKET), PACKET, True)
    tifffile.imwrite(target, pixels, photometric="rgb", metadata=None, extratags=[tag])

    decoded, meta = read_image(target)

    assert meta.xmp == PACKET
    np.testing.assert_array_equal(decoded, pixels)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_xmp_written_by_pillow_is_read(tmp_path, rng, fmt):
    target = tmp_path / f"pillow{SUFFIX[fmt]}"
    Image.fromarray(random_pixels(rng, 3, np.uint8)).save(target, xmp=PACKET)
    assert read_image(target)[1].xmp == PACKET
