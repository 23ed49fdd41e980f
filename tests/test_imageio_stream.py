"""Streaming I/O on libvips: rows read as they are asked for, rows encoded as they arrive,
the metadata chunks and segments burnish places itself, and the streamed scheduler source."""

from __future__ import annotations

import struct
import threading

import numpy as np
import pytest
from PIL import Image, ImageCms

from burnish.engine.imageio import ImageMeta, open_image, open_writer, read_image, write_image
from burnish.engine.tiling.chain import SourceStage
from burnish.engine.tiling.scheduler import ArraySource
from burnish.errors import InputError

SUFFIX = {"PNG": ".png", "TIFF": ".tif", "JPEG": ".jpg", "WEBP": ".webp"}
XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta '
       b'xmlns:x="adobe:ns:meta/"/><?xpacket end="w"?>')


def random_pixels(rng, shape, dtype) -> np.ndarray:
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def png_chunks(path) -> list[bytes]:
    """The chunk types of a PNG file, in order."""
    data = path.read_bytes()
    kinds, at = [], 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at: at + 8])
        kinds.append(kind)
        at += length + 12
    return kinds


def jpeg_segments(path) -> list[tuple[int, bytes]]:
    """(marker, first bytes of the payload) of each segment before the scan."""
    data = path.read_bytes()
    segments, at = [], 2
    while data[at + 1] != 0xDA:  # start of scan
        length = struct.unpack(">H", data[at + 2: at + 4])[0]
        segments.append((data[at + 1], data[at + 4: at + 16]))
        at += 2 + length
    return segments


@pytest.mark.parametrize(("fmt", "channels", "dtype"), [
    ("PNG", 1, np.uint8), ("PNG", 2, np.uint16), ("PNG", 3, np.uint16), ("PNG", 4, np.uint8),
    ("JPEG", 3, np.uint8), ("JPEG", 1, np.uint8), ("WEBP", 4, np.uint8), ("TIFF", 3, np.uint16)])
def test_rows_read_in_bands_are_the_whole_image(tmp_path, rng, fmt, channels, dtype):
    height, width = 301, 77
    target = tmp_path / f"rows{SUFFIX[fmt]}"
    write_image(target, random_pixels(rng, (height, width, channels), dtype), quality=100)
    whole, meta = read_image(target)
    with open_image(target) as rows:
        assert (rows.header.height, rows.header.width, rows.header.channels) == whole.shape
        assert rows.meta == meta
        bands = []
        while rows.next_row < height:
            bands.append(rows.read(int(rng.integers(1, 90))))
        assert rows.read(5).shape == (0, width, channels)
    np.testing.assert_array_equal(np.concatenate(bands), whole)


def test_an_oriented_jpeg_is_turned_when_read_in_rows(tmp_path, rng):
    pixels = random_pixels(rng, (40, 64, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # needs 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "turned.jpg", exif=exif, quality=100)
    whole, _ = read_image(tmp_path / "turned.jpg")
    assert whole.shape == (64, 40, 3)
    with open_image(tmp_path / "turned.jpg") as rows:
        np.testing.assert_array_equal(np.concatenate([rows.read(10) for _ in range(7)]), whole)


def test_a_truncated_png_fails_at_the_read_that_meets_the_cut(tmp_path, rng):
    target = tmp_path / "cut.png"
    write_image(target, random_pixels(rng, (400, 300, 3), np.uint8))
    data = target.read_bytes()
    target.write_bytes(data[: len(data) * 2 // 3])
    with open_image(target) as rows:  # the header is whole: opening works
        with pytest.raises(InputError) as caught:
            while rows.next_row < rows.header.height:
                rows.read(16)
    message = str(caught.value)
    assert message.startswith(f"{target}: truncated PNG file") and "\n" not in message


# ---- the scheduler's streamed source ------------------------------------------------------


def test_streamed_source_reads_what_an_array_source_reads(tmp_path, rng):
    pixels = random_pixels(rng, (203, 131, 3), np.uint16)
    write_image(tmp_path / "s.png", pixels)
    for pad_mode in ("edge", "reflect"):
        array = ArraySource(pixels, pad_mode)
        with open_image(tmp_path / "s.png") as rows:
            streamed = SourceStage(rows, pad_mode)
            top = -7
            while top < 203:  # bands going down, overlapping, past both edges
                bottom = top + int(rng.integers(20, 60))
                for x0 in (-5, 40, 100):
                    np.testing.assert_array_equal(streamed.read(top, bottom, x0, x0 + 45),
                                                  array.read(top, bottom, x0, x0 + 45))
                streamed.release(top + 10)
                top += int(rng.integers(10, 40))


def test_released_rows_are_freed_and_cannot_be_read(tmp_path, rng):
    write_image(tmp_path / "s.png", random_pixels(rng, (500, 64, 1), np.uint8))
    with open_image(tmp_path / "s.png") as rows:
        source = SourceStage(rows)
        source.read(0, 100, 0, 64)
        source.release(90)
        source.read(90, 300, 0, 64)
        source.release(280)
        assert source._top == 280 and source.made - source._top <= 500 - 280
        with pytest.raises(RuntimeError, match="released"):
            source.read(200, 320, 0, 64)


def test_a_file_upscaled_from_streamed_rows_equals_the_array_upscale(tmp_path, rng):
    import burnish
    from burnish.engine.upscaling import upscale_file
    from burnish.models.registry import open_model

    pixels = random_pixels(rng, (97, 61, 4), np.uint8)
    write_image(tmp_path / "in.png", pixels)
    with open_model("lanczos", scale=3) as runner:
        for tile in (16, 37, 0):
            upscale_file(tmp_path / "in.png", tmp_path / f"out{tile}.png", runner=runner,
                         scale=3, tile=tile)
            expected = burnish.upscale(pixels, model=runner, scale=3, tile=tile)
            np.testing.assert_array_equal(read_image(tmp_path / f"out{tile}.png")[0], expected)


# ---- writing through libvips --------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "channels", "dtype"), [
    ("PNG", 4, np.uint16), ("PNG", 1, np.uint8), ("WEBP", 3, np.uint8), ("WEBP", 2, np.uint8)])
def test_rows_written_in_small_bands_decode_exactly(tmp_path, rng, fmt, channels, dtype):
    pixels = random_pixels(rng, (611, 45, channels), dtype)
    target = tmp_path / f"bands{SUFFIX[fmt]}"
    with open_writer(target, width=45, height=611, channels=channels, dtype=dtype,
                     quality=100) as writer:
        for top in range(0, 611, 7):
            writer.write_rows(pixels[top: top + 7])
    decoded, _ = read_image(target)
    if fmt == "WEBP" and channels == 2:  # WebP holds grey as RGB: the grey is kept
        decoded = decoded[..., [0, 3]]
    np.testing.assert_array_equal(decoded, pixels)
    with Image.open(target) as independent:  # another decoder agrees on size and mode
        assert independent.size == (45, 611)


def test_a_png_carries_its_metadata_in_the_chunks_readers_look_for(tmp_path, rng):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[271] = "Burnish Camera Co"
    meta = ImageMeta("PNG", icc_profile=icc, exif=exif.tobytes(), dpi=(300.0, 300.0), xmp=XMP)
    write_image(tmp_path / "meta.png", random_pixels(rng, (20, 30, 3), np.uint8), meta=meta)
    kinds = png_chunks(tmp_path / "meta.png")
    first_pixels = kinds.index(b"IDAT")
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert set(kinds[1:first_pixels]) == {b"pHYs", b"iCCP", b"eXIf", b"iTXt"}
    assert b"zTXt" not in kinds and kinds.count(b"pHYs") == 1
    _, back = read_image(tmp_path / "meta.png")
    assert back.icc_profile == icc and back.xmp == XMP and back.dpi == (300.0, 300.0)
    write_image(tmp_path / "bare.png", random_pixels(rng, (20, 30, 3), np.uint8))
    assert png_chunks(tmp_path / "bare.png") == [b"IHDR"] + [b"IDAT"] * (
        png_chunks(tmp_path / "bare.png").count(b"IDAT")) + [b"IEND"]
    assert read_image(tmp_path / "bare.png")[1].dpi is None


def test_a_jpeg_puts_its_xmp_after_its_exif(tmp_path, rng):
    exif = Image.Exif()
    exif[271] = "Burnish Camera Co"
    meta = ImageMeta("JPEG", exif=exif.tobytes(), xmp=XMP)
    write_image(tmp_path / "meta.jpg", random_pixels(rng, (20, 30, 3), np.uint8), meta=meta)
    app1 = [payload for marker, payload in jpeg_segments(tmp_path / "meta.jpg") if marker == 0xE1]
    assert [payload[:4] for payload in app1] == [b"Exif", b"http"]
    _, back = read_image(tmp_path / "meta.jpg")
    assert back.xmp == XMP


def test_an_aborted_writer_leaves_no_file_and_no_thread(tmp_path, rng):
    before = threading.active_count()
    target = tmp_path / "aborted.jpg"
    writer = open_writer(target, width=64, height=400, channels=3, dtype=np.uint8)
    writer.write_rows(random_pixels(rng, (100, 64, 3), np.uint8))
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    assert threading.active_count() == before
