"""Tests of burnish.engine.imageio: round trips, metadata, orientation, streaming, bad files."""

from __future__ import annotations

import gc
import io
import os
import struct
import zlib

import numpy as np
import png
import pytest
import tifffile
from PIL import Image, ImageCms, ImageFile, ImageOps

import burnish
from burnish.engine.imageio import (
    ImageHeader,
    ImageMeta,
    open_writer,
    output_format,
    pillow_read,
    probe_image,
    read_image,
    tiff_read,
    tiff_write,
    write_image,
)
from burnish.errors import InputError, OptionError, OutputError

HEIGHT, WIDTH = 23, 37  # odd sizes, smaller than one TIFF tile

SUFFIX = {"PNG": ".png", "TIFF": ".tif", "JPEG": ".jpg", "WEBP": ".webp"}


def random_pixels(rng, shape, dtype) -> np.ndarray:
    """Random pixels over the dtype's whole range (uint16 low and high bytes differ)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return (rng.random(shape, dtype=np.float32) * 4 - 1).astype(dtype)  # own range
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def smooth_pixels(height, width, channels) -> np.ndarray:
    """Gradients: what a lossy codec keeps well."""
    y, x = np.mgrid[0:height, 0:width]
    planes = [x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)]
    return np.stack(planes[:channels], axis=-1).astype(np.uint8)


@pytest.fixture
def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture
def exif_bytes() -> bytes:
    exif = Image.Exif()
    exif[271] = "Burnish Camera Co"  # Make
    exif[305] = "burnish-test 1.0"  # Software
    return exif.tobytes()


def exif_tags(data: bytes | None) -> dict:
    exif = Image.Exif()
    if data:
        exif.load(data)
    return dict(exif)


def assert_one_line_error(error: pytest.ExceptionInfo, path) -> str:
    message = str(error.value)
    assert str(path) in message
    assert "\n" not in message
    return message


# ---- round trips ----------------------------------------------------------------------------

LOSSLESS_CASES = (
    [("PNG", c, d) for c in (1, 2, 3, 4) for d in (np.uint8, np.uint16)]
    + [("TIFF", c, d) for c in (1, 2, 3, 4) for d in (np.uint8, np.uint16, np.float32)]
    + [("WEBP", c, np.uint8) for c in (3, 4)]
)


@pytest.mark.parametrize(("fmt", "channels", "dtype"), LOSSLESS_CASES)
def test_lossless_round_trip_keeps_pixels_and_dtype(tmp_path, rng, fmt, channels, dtype):
    pixels = random_pixels(rng, (HEIGHT, WIDTH, channels), dtype)
    target = tmp_path / f"image{SUFFIX[fmt]}"
    write_image(target, pixels, quality=100)  # WebP: lossless at 100

    decoded, meta = read_image(target)

    assert meta.format == fmt
    assert decoded.dtype == np.dtype(dtype)
    assert decoded.shape == pixels.shape
    assert decoded.flags.c_contiguous and decoded.flags.writeable
    np.testing.assert_array_equal(decoded, pixels)
    assert probe_image(target) == ImageHeader(WIDTH, HEIGHT, channels, np.dtype(dtype), fmt)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_round_trip_is_close(tmp_path, channels):
    pixels = smooth_pixels(HEIGHT * 3, WIDTH * 3, channels)
    target = tmp_path / "image.jpg"
    write_image(target, pixels, quality=95)

    decoded, meta = read_image(target)

    assert meta.format == "JPEG"
    assert decoded.dtype == np.uint8 and decoded.shape == pixels.shape
    assert np.abs(decoded.astype(int) - pixels.astype(int)).mean() < 1.5


def test_jpeg_uses_444_chroma_at_high_quality(tmp_path):
    pixels = smooth_pixels(32, 32, 3)
    for quality, expected in ((95, 0), (75, 2)):  # JpegImagePlugin.get_sampling: 0 4:4:4, 2 4:2:0
        target = tmp_path / f"q{quality}.jpg"
        write_image(target, pixels, quality=quality)
        from PIL import JpegImagePlugin

        with Image.open(target) as image:
            assert JpegImagePlugin.get_sampling(image) == expected


@pytest.mark.parametrize("channels", [1, 2])
def test_webp_writes_grey_as_rgb(tmp_path, rng, channels):
    pixels = random_pixels(rng, (HEIGHT, WIDTH, channels), np.uint8)
    target = tmp_path / "grey.webp"
    write_image(target, pixels, quality=100)

    decoded, _ = read_image(target)

    assert decoded.shape == (HEIGHT, WIDTH, channels + 2)
    for c in range(3):
        np.testing.assert_array_equal(decoded[:, :, c], pixels[:, :, 0])
    if channels == 2:
        np.testing.assert_array_equal(decoded[:, :, 3], pixels[:, :, 1])


def test_write_image_accepts_2d_grey(tmp_path, rng):
    pixels = random_pixels(rng, (HEIGHT, WIDTH), np.uint16)
    write_image(tmp_path / "grey.png", pixels)
    decoded, _ = read_image(tmp_path / "grey.png")
    np.testing.assert_array_equal(decoded[:, :, 0], pixels)


# ---- 16-bit PNG, whoever wrote it -------------------------------------------------------------


@pytest.mark.parametrize(
    ("greyscale", "alpha", "planes"),
    [(False, False, 3), (False, True, 4), (True, True, 2), (True, False, 1)],
)
def test_16bit_png_from_pypng_keeps_all_bits(tmp_path, rng, greyscale, alpha, planes):
    """Pillow keeps only the high byte of 16-bit colour PNGs; burnish must keep both."""
    pixels = random_pixels(rng, (HEIGHT, WIDTH, planes), np.uint16)
    pixels[0, 0, 0] = 0x12FE  # a low byte far from the high byte
    target = tmp_path / "pypng16.png"
    with open(target, "wb") as file:
        png.Writer(WIDTH, HEIGHT, greyscale=greyscale, alpha=alpha, bitdepth=16).write(
            file, pixels.reshape(HEIGHT, -1)
        )

    decoded, _ = read_image(target)

    assert decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, pixels)


def test_16bit_grey_png_from_pillow(tmp_path, rng):
    pixels = random_pixels(rng, (HEIGHT, WIDTH), np.uint16)
    target = tmp_path / "pillow16.png"
    Image.fromarray(pixels).save(target)  # mode I;16

    decoded, _ = read_image(target)

    assert decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded[:, :, 0], pixels)


def test_16bit_png_with_colour_key_gets_alpha(tmp_path, rng):
    pixels = random_pixels(rng, (HEIGHT, WIDTH, 3), np.uint16)
    key = (0x0102, 0x0304, 0x0506)
    pixels[5, 7] = key
    target = tmp_path / "keyed.png"
    with open(target, "wb") as file:
        png.Writer(WIDTH, HEIGHT, greyscale=False, bitdepth=16, transparent=key).write(
            file, pixels.reshape(HEIGHT, -1)
        )

    decoded, _ = read_image(target)

    assert decoded.shape == (HEIGHT, WIDTH, 4) and decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded[:, :, :3], pixels)
    assert decoded[5, 7, 3] == 0
    assert (decoded[:, :, 3] == 0).sum() == 1
    assert probe_image(target).channels == 4


def test_written_png_is_decodable_by_pypng(tmp_path, rng):
    pixels = random_pixels(rng, (HEIGHT, WIDTH, 4), np.uint16)
    target = tmp_path / "ours.png"
    write_image(target, pixels)
    width, height, rows, info = png.Reader(filename=str(target)).read()
    assert (width, height, info["bitdepth"], info["planes"]) == (WIDTH, HEIGHT, 16, 4)
    np.testing.assert_array_equal(np.array(list(rows), np.uint16).reshape(pixels.shape), pixels)


# ---- conversions on read --------------------------------------------------------------------


def test_palette_png_becomes_rgb_or_rgba(tmp_path, rng):
    indices = rng.integers(0, 4, (HEIGHT, WIDTH), dtype=np.uint8)
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]
    colours = np.array(palette, np.uint8).reshape(4, 3)

    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette)
    image.save(tmp_path / "opaque.png")
    image.save(tmp_path / "clear.png", transparency=3)

    opaque, _ = read_image(tmp_path / "opaque.png")
    clear, _ = read_image(tmp_path / "clear.png")

    np.testing.assert_array_equal(opaque, colours[indices])
    assert clear.shape == (HEIGHT, WIDTH, 4)
    np.testing.assert_array_equal(clear[:, :, :3], colours[indices])
    np.testing.assert_array_equal(clear[:, :, 3], np.where(indices == 3, 0, 255))
    assert probe_image(tmp_path / "clear.png").channels == 4


def test_bilevel_png_becomes_grey_0_255(tmp_path, rng):
    bits = rng.random((HEIGHT, WIDTH)) > 0.5
    Image.fromarray(bits).save(tmp_path / "bits.png")  # mode 1

    decoded, _ = read_image(tmp_path / "bits.png")

    assert decoded.dtype == np.uint8 and decoded.shape == (HEIGHT, WIDTH, 1)
    np.testing.assert_array_equal(decoded[:, :, 0], np.where(bits, 255, 0))


def test_8bit_rgb_png_with_colour_key_gets_alpha(tmp_path, rng):
    pixels = random_pixels(rng, (HEIGHT, WIDTH, 3), np.uint8)
    pixels[2, 3] = (1, 2, 3)
    Image.fromarray(pixels).save(tmp_path / "keyed.png", transparency=(1, 2, 3))

    decoded, _ = read_image(tmp_path / "keyed.png")

    assert decoded.shape == (HEIGHT, WIDTH, 4)
    assert decoded[2, 3, 3] == 0
    np.testing.assert_array_equal(decoded[:, :, 3] == 0, np.all(pixels == (1, 2, 3), axis=2))


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    cmyk = Image.new("CMYK", (WIDTH, HEIGHT), (0, 255, 255, 0))  # red
    cmyk.save(tmp_path / "cmyk.jpg", quality=95)

    decoded, meta = read_image(tmp_path / "cmyk.jpg")

    assert decoded.shape == (HEIGHT, WIDTH, 3) and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - (255, 0, 0)).max() <= 3
    assert probe_image(tmp_path / "cmyk.jpg").channels == 3
    assert meta.icc_profile is None


def test_cmyk_jpeg_keeps_its_exif(tmp_path, exif_bytes):
    Image.new("CMYK", (WIDTH, HEIGHT), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg", exif=exif_bytes)
    _, meta = read_image(tmp_path / "cmyk.jpg")
    assert exif_tags(meta.exif)[271] == "Burnish Camera Co"


def test_tiff_layouts_read_by_tifffile(tmp_path, rng):
    planar = random_pixels(rng, (3, HEIGHT, WIDTH), np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", planar, photometric="rgb", planarconfig="separate")
    decoded, _ = read_image(tmp_path / "planar.tif")
    np.testing.assert_array_equal(decoded, np.moveaxis(planar, 0, -1))

    bits = rng.random((HEIGHT, WIDTH)) > 0.5
    tifffile.imwrite(tmp_path / "bits.tif", bits)  # 1-bit, written as min-is-white
    decoded, _ = read_image(tmp_path / "bits.tif")
    with Image.open(tmp_path / "bits.tif") as image:  # Pillow's reading, as the reference
        expected = np.asarray(image.convert("L"))
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded[:, :, 0], expected)
    assert set(np.unique(decoded)) <= {0, 255}


def test_palette_tiff_falls_back_to_pillow(tmp_path, rng):
    indices = rng.integers(0, 4, (HEIGHT, WIDTH), dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    image.save(tmp_path / "palette.tif")

    decoded, meta = read_image(tmp_path / "palette.tif")

    assert meta.format == "TIFF" and decoded.shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(
        decoded[indices == 1], np.tile([0, 255, 0], ((indices == 1).sum(), 1))
    )


def test_a_16_bit_lzw_tiff_streams_through_libvips(tmp_path, rng):
    """libvips decodes what tifffile needs imagecodecs for, row by row, at full depth."""
    from burnish.engine.imageio import open_image

    pixels = random_pixels(rng, (HEIGHT, WIDTH), np.uint16)
    Image.fromarray(pixels).save(tmp_path / "lzw16.tif", compression="tiff_lzw")  # I;16
    decoded, meta = read_image(tmp_path / "lzw16.tif")
    assert meta.format == "TIFF" and decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded[..., 0], pixels)
    with open_image(tmp_path / "lzw16.tif") as rows:
        assert rows._reader is not None  # streamed, not decoded whole
        first = rows.read(3)
    np.testing.assert_array_equal(first[..., 0], pixels[:3])


def test_tiff_codecs_tifffile_lacks_go_to_pillow(tmp_path, rng):
    pixels = random_pixels(rng, (HEIGHT, WIDTH, 3), np.uint8)
    Image.fromarray(pixels).save(tmp_path / "lzw.tif", compression="tiff_lzw")  # no imagecodecs
    decoded, _ = read_image(tmp_path / "lzw.tif")
    np.testing.assert_array_equal(decoded, pixels)


def test_tiff_pillow_would_truncate_is_refused(tmp_path, rng, monkeypatch):
    """On the whole-image path (TIFFs libvips does not stream), a codec tifffile lacks and
    Pillow would decode at lower depth is refused."""
    from burnish.engine.imageio import read as read_module

    def needs_imagecodecs(page):
        raise ValueError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tiff_read, "_tifffile_pixels", needs_imagecodecs)
    monkeypatch.setattr(read_module, "_streamable_tiff", lambda path, max_pixels: None)
    write_image(tmp_path / "rgb16.tif", random_pixels(rng, (HEIGHT, WIDTH, 3), np.uint16))

    with pytest.raises(InputError, match="imagecodecs") as error:
        read_image(tmp_path / "rgb16.tif")
    assert_one_line_error(error, tmp_path / "rgb16.tif")


# ---- metadata ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "dtype"),
    [
        ("PNG", np.uint8),
        ("PNG", np.uint16),
        ("JPEG", np.uint8),
        ("TIFF", np.uint8),
        ("TIFF", np.uint16),
        ("WEBP", np.uint8),
    ],
)
def test_icc_and_exif_are_carried(tmp_path, rng, srgb_icc, exif_bytes, fmt, dtype):
    pixels = random_pixels(rng, (HEIGHT, WIDTH, 3), dtype)
    target = tmp_path / f"meta{SUFFIX[fmt]}"
    write_image(target, pixels, meta=ImageMeta(fmt, icc_profile=srgb_icc, exif=exif_bytes))

    _, meta = read_image(target)

    assert meta.icc_profile == srgb_icc
    tags = exif_tags(meta.exif)
    assert tags[271] == "Burnish Camera Co"
    assert tags[305] == f"burnish {burnish.__version__}"  # the output's software, not the input's


def test_png_metadata_chunks_are_read_by_pillow(tmp_path, rng, srgb_icc, exif_bytes):
    target = tmp_path / "meta.png"
    write_image(
        target,
        random_pixels(rng, (HEIGHT, WIDTH, 4), np.uint16),
        meta=ImageMeta("PNG", icc_profile=srgb_icc, exif=exif_bytes, dpi=(300.0, 300.0)),
    )
    with Image.open(target) as image:
        assert image.info["icc_profile"] == srgb_icc
        assert image.getexif()[271] == "Burnish Camera Co"
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF"])
def test_dpi_is_carried(tmp_path, rng, fmt):
    target = tmp_path / f"dpi{SUFFIX[fmt]}"
    write_image(
        target,
        random_pixels(rng, (HEIGHT, WIDTH, 3), np.uint8),
        meta=ImageMeta(fmt, dpi=(300.0, 150.0)),
    )
    _, meta = read_image(target)
    assert meta.dpi == (300.0, 150.0)


def test_icc_of_the_wrong_colour_space_is_dropped(tmp_path, rng, srgb_icc):
    target = tmp_path / "grey.png"
    write_image(
        target,
        random_pixels(rng, (HEIGHT, WIDTH, 1), np.uint8),
        meta=ImageMeta("PNG", icc_profile=srgb_icc),
    )
    _, meta = read_image(target)
    assert meta.icc_profile is None


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_unreadable_exif_is_dropped_not_fatal(tmp_path):
    pixels = smooth_pixels(HEIGHT, WIDTH, 3)
    garbage = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff" + b"\x13" * 40
    Image.fromarray(pixels).save(tmp_path / "odd.jpg", exif=garbage, quality=95)

    decoded, _ = read_image(tmp_path / "odd.jpg")

    assert decoded.shape == pixels.shape


# ---- orientation ----------------------------------------------------------------------------


def save_with_orientation(path, pixels: np.ndarray, orientation: int, **options) -> None:
    exif = Image.Exif()
    exif[274] = orientation
    exif[271] = "Burnish Camera Co"
    Image.fromarray(pixels).save(path, exif=exif.tobytes(), **options)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(tmp_path, rng, orientation):
    pixels = random_pixels(rng, (HEIGHT, WIDTH, 3), np.uint8)
    target = tmp_path / "oriented.png"
    save_with_orientation(target, pixels, orientation)

    decoded, meta = read_image(target)

    with Image.open(target) as image:
        expected = np.asarray(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(decoded, expected)
    assert exif_tags(meta.exif)[274] == 1
    assert exif_tags(meta.exif)[271] == "Burnish Camera Co"
    header = probe_image(target)
    assert (header.height, header.width) == decoded.shape[:2]


def test_orientation_6_rotates_png_clockwise(tmp_path, rng):
    pixels = random_pixels(rng, (HEIGHT, WIDTH, 3), np.uint8)
    save_with_orientation(tmp_path / "six.png", pixels, 6)

    decoded, meta = read_image(tmp_path / "six.png")

    assert decoded.shape == (WIDTH, HEIGHT, 3)
    np.testing.assert_array_equal(decoded, np.rot90(pixels, k=-1))
    assert exif_tags(meta.exif)[274] == 1


def test_orientation_6_rotates_jpeg(tmp_path):
    pixels = smooth_pixels(HEIGHT * 2, WIDTH * 2, 3)
    save_with_orientation(tmp_path / "six.jpg", pixels, 6, quality=95, subsampling=0)

    decoded, meta = read_image(tmp_path / "six.jpg")

    assert decoded.shape == (WIDTH * 2, HEIGHT * 2, 3)
    assert np.abs(decoded.astype(int) - np.rot90(pixels, k=-1).astype(int)).mean() < 1.5
    assert exif_tags(meta.exif)[274] == 1
    assert probe_image(tmp_path / "six.jpg").width == HEIGHT * 2


def test_orientation_16bit_png_and_tiff(tmp_path, rng):
    pixels = random_pixels(rng, (HEIGHT, WIDTH, 3), np.uint16)
    exif = Image.Exif()
    exif[274] = 8
    # burnish writes upright pixels with orientation 1, so the eXIf chunk is put in by hand,
    # right after the signature and IHDR (8 + 25 bytes)
    write_image(tmp_path / "upright.png", pixels)
    upright = (tmp_path / "upright.png").read_bytes()
    body = exif.tobytes()[len(b"Exif\x00\x00") :]
    chunk = struct.pack(">I4s", len(body), b"eXIf") + body
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + body))
    (tmp_path / "eight.png").write_bytes(upright[:33] + chunk + upright[33:])
    tifffile.imwrite(
        tmp_path / "eight.tif", pixels, photometric="rgb", extratags=[(274, "H", 1, 8, True)]
    )

    for name in ("eight.png", "eight.tif"):
        decoded, meta = read_image(tmp_path / name)
        np.testing.assert_array_equal(decoded, np.rot90(pixels, k=1))
        assert exif_tags(meta.exif)[274] == 1
        assert probe_image(tmp_path / name).width == HEIGHT


# ---- the streaming writer -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG", "WEBP"])
def test_rows_in_chunks_give_the_same_file_as_one_chunk(tmp_path, rng, fmt):
    dtype = np.uint16 if fmt in ("PNG", "TIFF") else np.uint8
    height, width = 601, 300  # several TIFF bands, last one short; several PNG work blocks
    pixels = random_pixels(rng, (height, width, 4 if fmt != "JPEG" else 3), dtype)
    whole, pieces = tmp_path / f"whole{SUFFIX[fmt]}", tmp_path / f"pieces{SUFFIX[fmt]}"
    write_image(whole, pixels, quality=100)

    with open_writer(
        pieces, width=width, height=height, channels=pixels.shape[2], dtype=dtype, quality=100
    ) as writer:
        buffer = np.empty((300, width, pixels.shape[2]), dtype)
        start = 0
        for size in (1, 7, 0, 255, 256, 2, 80):
            buffer[:size] = pixels[start : start + size]
            writer.write_rows(buffer[:size])
            buffer[:] = 0  # the writer must have copied what it keeps
            start += size
        assert start == height

    assert whole.read_bytes() == pieces.read_bytes()
    decoded, _ = read_image(pieces)
    if fmt != "JPEG":
        np.testing.assert_array_equal(decoded, pixels)


def test_non_contiguous_rows_are_accepted(tmp_path, rng):
    pixels = random_pixels(rng, (HEIGHT, WIDTH * 2, 3), np.uint8)[:, ::2]
    write_image(tmp_path / "strided.png", pixels)
    np.testing.assert_array_equal(read_image(tmp_path / "strided.png")[0], pixels)


def leftovers(folder) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG"])
def test_too_few_rows_saves_nothing(tmp_path, rng, fmt):
    target = tmp_path / f"short{SUFFIX[fmt]}"
    writer = open_writer(target, width=WIDTH, height=HEIGHT, channels=3, dtype=np.uint8)
    writer.write_rows(random_pixels(rng, (HEIGHT - 1, WIDTH, 3), np.uint8))

    with pytest.raises(OutputError, match="22 of 23 rows") as error:
        writer.close()

    assert_one_line_error(error, target)
    assert leftovers(tmp_path) == []


def test_too_many_rows_saves_nothing(tmp_path, rng):
    target = tmp_path / "long.png"
    with pytest.raises(OutputError, match="more rows"):
        with open_writer(target, width=WIDTH, height=2, channels=1, dtype=np.uint8) as writer:
            writer.write_rows(np.zeros((3, WIDTH, 1), np.uint8))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_exception_inside_with_leaves_no_file_and_keeps_the_old_target(tmp_path, rng, fmt):
    target = tmp_path / f"out{SUFFIX[fmt]}"
    target.write_bytes(b"previous contents")

    with pytest.raises(RuntimeError, match="tile failed"):
        with open_writer(
            target, width=WIDTH, height=HEIGHT * 20, channels=3, dtype=np.uint8
        ) as writer:
            writer.write_rows(random_pixels(rng, (HEIGHT * 15, WIDTH, 3), np.uint8))
            raise RuntimeError("tile failed")

    assert leftovers(tmp_path) == [target.name]
    assert target.read_bytes() == b"previous contents"


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_dropped_writer_cleans_up(tmp_path, rng, fmt):
    writer = open_writer(
        tmp_path / f"x{SUFFIX[fmt]}", width=WIDTH, height=HEIGHT, channels=3, dtype=np.uint8
    )
    writer.write_rows(random_pixels(rng, (3, WIDTH, 3), np.uint8))
    del writer
    gc.collect()
    assert leftovers(tmp_path) == []


def test_wrong_rows_raise_value_error(tmp_path):
    with open_writer(
        tmp_path / "x.png", width=WIDTH, height=1, channels=3, dtype=np.uint8
    ) as writer:
        with pytest.raises(ValueError, match="uint8"):
            writer.write_rows(np.zeros((1, WIDTH, 3), np.uint16))
        with pytest.raises(ValueError, match="shape"):
            writer.write_rows(np.zeros((1, WIDTH, 4), np.uint8))
        writer.write_rows(np.zeros((1, WIDTH, 3), np.uint8))
    assert (tmp_path / "x.png").exists()


def test_writer_thread_failure_becomes_output_error(tmp_path, rng, monkeypatch):
    def failing_imwrite(file, tiles, **options):
        next(tiles)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tiff_write.tifffile, "imwrite", failing_imwrite)
    target = tmp_path / "full.tif"
    with pytest.raises(OutputError, match="No space left on device") as error:
        with open_writer(target, width=WIDTH, height=4000, channels=1, dtype=np.uint8) as writer:
            for _ in range(40):  # more bands than the queue holds: must not block
                writer.write_rows(np.zeros((100, WIDTH, 1), np.uint8))
    assert_one_line_error(error, target)
    assert leftovers(tmp_path) == []


def test_output_gets_ordinary_permissions(tmp_path, rng):
    umask = os.umask(0o022)
    try:
        write_image(tmp_path / "perm.png", random_pixels(rng, (2, 2, 1), np.uint8))
    finally:
        os.umask(umask)
    assert (tmp_path / "perm.png").stat().st_mode & 0o777 == 0o644


def test_bigtiff_above_threshold(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(tiff_write, "BIGTIFF_THRESHOLD_BYTES", 1000)
    pixels = random_pixels(rng, (HEIGHT, WIDTH, 4), np.uint16)
    write_image(tmp_path / "big.tif", pixels)

    with tifffile.TiffFile(tmp_path / "big.tif") as tif:
        assert tif.is_bigtiff
    np.testing.assert_array_equal(read_image(tmp_path / "big.tif")[0], pixels)

    write_image(tmp_path / "small.tif", pixels[:2, :2])
    with tifffile.TiffFile(tmp_path / "small.tif") as tif:
        assert not tif.is_bigtiff


def test_tiff_output_is_tiled_and_compressed(tmp_path, rng):
    write_image(tmp_path / "t.tif", np.zeros((300, 300, 3), np.uint8))
    with tifffile.TiffFile(tmp_path / "t.tif") as tif:
        page = tif.pages[0]
        assert page.is_tiled and (page.tilelength, page.tilewidth) == (256, 256)
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert page.predictor == tifffile.PREDICTOR.HORIZONTAL


# ---- output errors ----------------------------------------------------------------------------


def test_output_format_from_suffix_or_name(tmp_path):
    assert output_format("a.PNG") == "PNG"
    assert output_format("a.jpeg") == "JPEG"
    assert output_format("a.JPG") == "JPEG"
    assert output_format("a.tiff") == "TIFF"
    assert output_format("a.Tif") == "TIFF"
    assert output_format("a.webp") == "WEBP"
    assert output_format("a.bin", "jpg") == "JPEG"
    with pytest.raises(OutputError, match="suffix"):
        output_format(tmp_path / "a.bmp")
    with pytest.raises(OutputError, match="unsupported output format"):
        output_format("a.png", "GIF")


@pytest.mark.parametrize(
    ("fmt", "channels", "dtype", "message"),
    [
        ("JPEG", 3, np.uint16, "JPEG cannot store uint16"),
        ("WEBP", 3, np.uint16, "WEBP cannot store uint16"),
        ("PNG", 3, np.float32, "PNG cannot store float32"),
        ("JPEG", 4, np.uint8, "alpha is not supported by JPEG"),
        ("JPEG", 2, np.uint8, "alpha is not supported by JPEG"),
        ("PNG", 5, np.uint8, "channel count"),
    ],
)
def test_what_a_format_cannot_hold_is_refused(tmp_path, fmt, channels, dtype, message):
    target = tmp_path / f"out{SUFFIX[fmt]}"
    with pytest.raises(OutputError, match=message) as error:
        open_writer(target, width=WIDTH, height=HEIGHT, channels=channels, dtype=dtype)
    assert_one_line_error(error, target)
    assert leftovers(tmp_path) == []


def test_quality_out_of_range(tmp_path):
    with pytest.raises(OptionError):
        open_writer(tmp_path / "q.jpg", width=1, height=1, channels=3, dtype=np.uint8, quality=101)


def test_webp_size_limit(tmp_path):
    with pytest.raises(OutputError, match="16383"):
        open_writer(tmp_path / "wide.webp", width=20000, height=10, channels=3, dtype=np.uint8)


def test_missing_output_folder(tmp_path):
    target = tmp_path / "no" / "such" / "out.png"
    with pytest.raises(OutputError, match="does not exist") as error:
        open_writer(target, width=1, height=1, channels=1, dtype=np.uint8)
    assert_one_line_error(error, target)


def test_output_folder_is_a_file(tmp_path):
    (tmp_path / "file").write_bytes(b"x")
    target = tmp_path / "file" / "out.png"
    with pytest.raises(OutputError) as error:
        open_writer(target, width=1, height=1, channels=1, dtype=np.uint8)
    assert_one_line_error(error, target)


def test_output_path_is_a_directory(tmp_path):
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(OutputError, match="directory"):
        write_image(tmp_path / "dir.png", np.zeros((1, 1, 1), np.uint8))


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root ignores folder permissions (the folder-is-a-file test covers it)",
)
def test_output_folder_not_writable(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="permission denied") as error:
            open_writer(folder / "out.png", width=1, height=1, channels=1, dtype=np.uint8)
        assert_one_line_error(error, folder / "out.png")
    finally:
        folder.chmod(0o700)


# ---- bad input ----------------------------------------------------------------------------------


def good_png(tmp_path, name="good.png") -> bytes:
    pixels = np.random.default_rng(7).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    write_image(tmp_path / name, pixels)
    return (tmp_path / name).read_bytes()


def good_jpeg(tmp_path) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(smooth_pixels(64, 64, 3)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def with_png_size(data: bytes, width: int, height: int) -> bytes:
    """The same PNG claiming another size in IHDR (with a valid CRC)."""
    body = struct.pack(">II", width, height) + data[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF)
    return data[:16] + body + crc + data[33:]


def with_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG claiming another size in its SOF0 segment."""
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


BAD_INPUTS = {
    "missing": (lambda tmp: None, "no such file"),
    "directory": (lambda tmp: os.mkdir(tmp / "bad"), "directory"),
    "empty": (lambda tmp: (tmp / "bad").write_bytes(b""), "empty file"),
    "text": (lambda tmp: (tmp / "bad").write_text("hello, not an image\n" * 20), "not an image"),
    "truncated png": (lambda tmp: (tmp / "bad").write_bytes(good_png(tmp)[:6000]), "truncated PNG"),
    "png without end": (
        lambda tmp: (tmp / "bad").write_bytes(good_png(tmp)[:-30]),
        "truncated PNG",
    ),
    "truncated jpeg": (
        lambda tmp: (tmp / "bad").write_bytes(good_jpeg(tmp)[:800]),
        "truncated JPEG",
    ),
    "corrupt png": (
        lambda tmp: (tmp / "bad").write_bytes(
            good_png(tmp)[:100] + b"\x00" * 200 + good_png(tmp)[300:]
        ),
        "PNG",
    ),
    "absurd png": (
        lambda tmp: (tmp / "bad").write_bytes(with_png_size(good_png(tmp), 100_000, 100_000)),
        "(max_pixels)",
    ),
    "absurd jpeg": (
        lambda tmp: (tmp / "bad").write_bytes(with_jpeg_size(good_jpeg(tmp), 65_000, 65_000)),
        "(max_pixels)",
    ),
    "gif": (
        lambda tmp: Image.new("P", (4, 4)).save(tmp / "bad", format="GIF"),
        "unsupported image format GIF",
    ),
    "bmp": (
        lambda tmp: Image.new("RGB", (4, 4)).save(tmp / "bad", format="BMP"),
        "unsupported image format BMP",
    ),
    "int32 tiff": (
        lambda tmp: tifffile.imwrite(tmp / "bad", np.zeros((4, 4), np.int32)),
        "unsupported",
    ),
    "complex tiff": (
        lambda tmp: tifffile.imwrite(tmp / "bad", np.zeros((4, 4), np.complex64)),
        "unsupported",
    ),
    "truncated tiff": (
        lambda tmp: (tmp / "bad").write_bytes(
            _tiff_bytes(np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3))[:4000]
        ),
        "truncated TIFF",
    ),
}


def _tiff_bytes(pixels) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, photometric="rgb")
    return buffer.getvalue()


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_bad_input_is_one_line_input_error(tmp_path, case, suffix):
    make, expected = BAD_INPUTS[case]
    make(tmp_path)
    path = tmp_path / ("bad" + suffix)
    if (tmp_path / "bad").exists():
        os.rename(tmp_path / "bad", path)

    with pytest.raises(InputError) as error:
        read_image(path)

    message = assert_one_line_error(error, path)
    assert expected in message
    assert error.value.path == str(path)


@pytest.mark.parametrize(
    "case",
    ["missing", "directory", "empty", "text", "absurd png", "absurd jpeg", "gif", "int32 tiff"],
)
def test_probe_refuses_bad_headers(tmp_path, case):
    make, expected = BAD_INPUTS[case]
    make(tmp_path)
    with pytest.raises(InputError) as error:
        probe_image(tmp_path / "bad")
    assert expected in assert_one_line_error(error, tmp_path / "bad")


@pytest.mark.parametrize("case", ["truncated png", "truncated jpeg", "truncated tiff"])
def test_probe_reads_only_the_header(tmp_path, case):
    """A file cut short in its pixel data still probes: probing decodes no pixels."""
    BAD_INPUTS[case][0](tmp_path)
    assert probe_image(tmp_path / "bad").width == 64


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG", "WEBP"])
def test_max_pixels_is_checked_before_decoding(tmp_path, rng, fmt, monkeypatch):
    target = tmp_path / f"image{SUFFIX[fmt]}"
    write_image(target, random_pixels(rng, (HEIGHT, WIDTH, 3), np.uint8))
    monkeypatch.setattr(pillow_read, "_pillow_pixels", None)  # decoding would fail loudly
    monkeypatch.setattr(tiff_read, "_tifffile_pixels", None)

    with pytest.raises(InputError, match="37 x 23 = 851 pixels") as error:
        read_image(target, max_pixels=850)

    assert "(max_pixels)" in assert_one_line_error(error, target)


def test_pillow_pixel_limit_is_not_in_the_way_and_is_restored(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # far below this image
    target = tmp_path / "image.png"
    write_image(target, random_pixels(rng, (HEIGHT, WIDTH, 3), np.uint8))

    assert read_image(target)[0].shape == (HEIGHT, WIDTH, 3)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_truncated_images_are_never_loaded_silently():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_tifffile_shape_description_is_not_carried_as_a_user_description(tmp_path):
    """tifffile stores {"shape": ...} in ImageDescription; copied to a resized output it lies."""
    import tifffile

    source = tmp_path / "shaped.tif"
    tifffile.imwrite(source, np.zeros((5, 7, 3), np.uint8), photometric="rgb")
    pixels, meta = read_image(source)
    out = tmp_path / "big.tif"
    write_image(out, np.zeros((10, 14, 3), np.uint8), meta=meta)
    with tifffile.TiffFile(out) as tif:
        description = tif.pages[0].description or ""
        assert "shape" not in description and tif.series[0].shape == (10, 14, 3)
