"""Metadata that must describe the output (sizes, orientation, software, ICC) and inputs with
more than one image: tests of burnish.engine.imageio's write-time update and frame warnings.

Inputs are made here with Pillow and tifffile, not with burnish's writer (which would already
bring them up to date); outputs are read back with Pillow, tifffile and the standard library's
XML parser, independently of burnish's reader.
"""

from __future__ import annotations

import io
import logging
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, PngImagePlugin

from burnish import __version__
from burnish.engine.imageio import ImageMeta, open_writer, probe_image, read_image, write_image
from burnish.engine.provenance.sidecar import xmp_packet
from burnish.engine.upscaling import upscale_file

from fake_runners import BlurUpscaleRunner

SOFTWARE = f"burnish {__version__}"
HEIGHT, WIDTH = 7, 13  # odd sizes; outputs are written at another odd size
OUT_HEIGHT, OUT_WIDTH = 21, 39
SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "WEBP": ".webp"}
FORMATS = tuple(SUFFIX)
LOGGER = "burnish.engine.imageio"

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
}


def input_xmp(width: int, height: int) -> bytes:
    """A packet as a camera or an editor writes one: sizes as attributes and as elements."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        f'<rdf:RDF xmlns:rdf="{NS["rdf"]}">'
        f'<rdf:Description rdf:about="" xmlns:exif="{NS["exif"]}" xmlns:tiff="{NS["tiff"]}"'
        f' xmlns:dc="{NS["dc"]}" exif:PixelXDimension="{width}" tiff:Orientation="1"'
        ' tiff:Software="Photoshop 25.0">'
        f"<exif:PixelYDimension>{height}</exif:PixelYDimension>"
        f"<tiff:ImageWidth>{width}</tiff:ImageWidth>"
        f"<tiff:ImageLength>{height}</tiff:ImageLength>"
        '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Café &amp; 夜</rdf:li></rdf:Alt>'
        "</dc:title>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>" + " " * 64 + '<?xpacket end="w"?>'
    ).encode("utf-8")


def input_exif(width: int, height: int) -> Image.Exif:
    exif = Image.Exif()
    exif[256] = width  # ImageWidth
    exif[257] = height  # ImageLength
    exif[271] = "Burnish Camera Co"  # Make
    exif[305] = "Photoshop 25.0"  # Software
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0xA002] = width  # PixelXDimension
    exif_ifd[0xA003] = height  # PixelYDimension
    exif_ifd[0x9003] = "2024:01:02 03:04:05"  # DateTimeOriginal: the rest of the IFD stays
    return exif


def make_input(path, fmt: str, pixels: np.ndarray, *, exif=None, xmp=None, icc=None) -> None:
    """An input file written by Pillow (PNG, JPEG, WebP) or tifffile (TIFF)."""
    height, width = pixels.shape[:2]
    if fmt == "TIFF":
        tags = [(271, "s", 0, "Burnish Camera Co", True)]
        if xmp is not None:
            tags.append((700, 1, len(xmp), xmp, True))
        tifffile.imwrite(
            path,
            pixels,
            photometric="rgb",
            software="Photoshop 25.0",
            extratags=tags,
            iccprofile=icc,
            metadata=None,
        )
        return
    options = {}
    if exif is not None:
        options["exif"] = exif.tobytes()
    if icc is not None:
        options["icc_profile"] = icc
    if xmp is not None:
        if fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8"))
            options["pnginfo"] = info
        else:
            options["xmp"] = xmp
    if fmt == "JPEG":
        options["quality"] = 95
    elif fmt == "WEBP":
        options["lossless"] = True
    Image.fromarray(pixels).save(path, format=fmt, **options)
    assert (width, height) == Image.open(path).size


def xmp_description(packet: bytes) -> ElementTree.Element:
    text = packet.decode("utf-8")
    start, end = text.index("<x:xmpmeta"), text.rindex("</x:xmpmeta>") + len("</x:xmpmeta>")
    return ElementTree.fromstring(text[start:end]).find(".//rdf:Description", NS)


def xmp_values(packet: bytes) -> dict[str, list[str]]:
    """Every value of the size, orientation and software properties, attribute or element."""
    description = xmp_description(packet)
    names = {
        "exif:PixelXDimension",
        "exif:PixelYDimension",
        "tiff:ImageWidth",
        "tiff:ImageLength",
        "tiff:Orientation",
        "tiff:Software",
    }
    values: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        prefix, local = name.split(":")
        attribute = description.get(f"{{{NS[prefix]}}}{local}")
        if attribute is not None:
            values[name].append(attribute)
        values[name] += [element.text for element in description.findall(name, NS)]
    return values


def written_metadata(path, fmt: str) -> tuple[dict, dict, bytes | None, bytes | None]:
    """(IFD0 tags, Exif sub-IFD tags, XMP, ICC) of a file, as Pillow or tifffile read them."""
    if fmt == "TIFF":
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            ifd0 = {
                code: page.tags[code].value for code in (256, 257, 271, 305) if code in page.tags
            }
            xmp = page.tags[700].value if 700 in page.tags else None
            icc = page.tags[34675].value if 34675 in page.tags else None
            return ifd0, {}, xmp, icc
    with Image.open(path) as image:
        exif = image.getexif()
        return (
            dict(exif),
            dict(exif.get_ifd(0x8769)),
            image.info.get("xmp"),
            (image.info.get("icc_profile")),
        )


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def with_colour_space(icc: bytes, space: bytes, device_class: bytes = b"mntr") -> bytes:
    """A profile whose header declares another colour space (bytes 16-19) and device class
    (12-15). Pillow cannot create CMYK or grey profiles, and no CMYK JPEG it makes carries one:
    this is a profile that parses and says CMYK (or GRAY), which is what the check looks at."""
    patched = bytearray(icc)
    patched[12:16] = device_class
    patched[16:20] = space
    return bytes(patched)


def assert_one_warning(caplog, path, *words) -> None:
    records = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(records) == 1, [r.getMessage() for r in records]
    message = records[0].getMessage()
    assert message.startswith(f"{path}: ") and "\n" not in message
    for word in words:
        assert word in message


# ---- sizes, orientation and software describe the output ------------------------------------


def write_whole(path, pixels, meta) -> None:
    write_image(path, pixels, meta=meta)


def write_streamed(path, pixels, meta) -> None:
    """Through the row sink, a few uneven rows at a time, as the tile scheduler feeds it."""
    height, width, channels = pixels.shape
    with open_writer(
        path, width=width, height=height, channels=channels, dtype=pixels.dtype, meta=meta
    ) as writer:
        for start in range(0, height, 5):
            writer.write_rows(pixels[start : start + 5])


@pytest.mark.parametrize("source_fmt", FORMATS)
@pytest.mark.parametrize("target_fmt", FORMATS)
@pytest.mark.parametrize("write", [write_whole, write_streamed])
def test_sizes_and_software_describe_the_output(tmp_path, rng, source_fmt, target_fmt, write):
    source = tmp_path / f"in{SUFFIX[source_fmt]}"
    pixels = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    make_input(
        source, source_fmt, pixels, exif=input_exif(WIDTH, HEIGHT), xmp=input_xmp(WIDTH, HEIGHT)
    )
    _, meta = read_image(source)
    target = tmp_path / f"out{SUFFIX[target_fmt]}"

    write(target, rng.integers(0, 256, (OUT_HEIGHT, OUT_WIDTH, 3), dtype=np.uint8), meta)

    ifd0, exif_ifd, xmp, _ = written_metadata(target, target_fmt)
    assert ifd0[305] == SOFTWARE  # EXIF Software, or the TIFF tag
    assert ifd0[271] == "Burnish Camera Co"  # the rest is carried
    if target_fmt == "TIFF":  # the TIFF's own size tags, from tifffile
        assert (ifd0[256], ifd0[257]) == (OUT_WIDTH, OUT_HEIGHT)
    elif source_fmt != "TIFF":  # a TIFF input carries no Exif sub-IFD
        assert (ifd0[256], ifd0[257]) == (OUT_WIDTH, OUT_HEIGHT)
        assert (exif_ifd[0xA002], exif_ifd[0xA003]) == (OUT_WIDTH, OUT_HEIGHT)
        assert exif_ifd[0x9003] == "2024:01:02 03:04:05"
    assert xmp_values(xmp) == {
        "exif:PixelXDimension": [str(OUT_WIDTH)],
        "exif:PixelYDimension": [str(OUT_HEIGHT)],
        "tiff:ImageWidth": [str(OUT_WIDTH)],
        "tiff:ImageLength": [str(OUT_HEIGHT)],
        "tiff:Orientation": ["1"],
        "tiff:Software": [SOFTWARE],
    }
    title = xmp_description(xmp).find("dc:title/rdf:Alt/rdf:li", NS)
    assert title.text == "Café & 夜"  # everything else in the packet is kept
    assert xmp.startswith(b'<?xpacket begin="\xef\xbb\xbf"') and xmp.endswith(b'end="w"?>')


def test_upscale_file_writes_the_output_size(tmp_path, rng):
    source, target = tmp_path / "in.jpg", tmp_path / "out.png"
    pixels = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    make_input(source, "JPEG", pixels, exif=input_exif(WIDTH, HEIGHT), xmp=input_xmp(WIDTH, HEIGHT))

    upscale_file(source, target, runner=BlurUpscaleRunner(scale=3), scale=3, tile=16)

    ifd0, exif_ifd, xmp, _ = written_metadata(target, "PNG")
    assert (exif_ifd[0xA002], exif_ifd[0xA003]) == (3 * WIDTH, 3 * HEIGHT)
    assert (ifd0[256], ifd0[257], ifd0[305]) == (3 * WIDTH, 3 * HEIGHT, SOFTWARE)
    values = xmp_values(xmp)
    assert values["exif:PixelXDimension"] == [str(3 * WIDTH)]
    assert values["exif:PixelYDimension"] == [str(3 * HEIGHT)]


def test_orientation_is_reset_on_write_whatever_the_metadata_says(tmp_path, rng):
    exif = input_exif(WIDTH, HEIGHT)
    exif[274] = 6  # metadata built by a caller, never through read_image
    xmp = input_xmp(WIDTH, HEIGHT).replace(b'tiff:Orientation="1"', b'tiff:Orientation="6"')
    target = tmp_path / "out.jpg"

    write_image(
        target,
        rng.integers(0, 256, (OUT_HEIGHT, OUT_WIDTH, 3), dtype=np.uint8),
        meta=ImageMeta("JPEG", exif=exif.tobytes(), xmp=xmp),
    )

    ifd0, _, xmp_out, _ = written_metadata(target, "JPEG")
    assert ifd0[274] == 1
    assert xmp_values(xmp_out)["tiff:Orientation"] == ["1"]
    assert probe_image(target).width == OUT_WIDTH  # not turned on read


def test_exif_without_size_tags_gets_none_invented(tmp_path, rng):
    exif = Image.Exif()
    exif[271] = "Burnish Camera Co"
    target = tmp_path / "out.png"
    write_image(
        target,
        rng.integers(0, 256, (5, 6, 3), dtype=np.uint8),
        meta=ImageMeta("PNG", exif=exif.tobytes()),
    )
    ifd0, exif_ifd, _, _ = written_metadata(target, "PNG")
    assert ifd0 == {271: "Burnish Camera Co", 305: SOFTWARE}
    assert exif_ifd == {}


def test_no_exif_in_no_exif_out(tmp_path, rng):
    target = tmp_path / "out.jpg"
    write_image(target, rng.integers(0, 256, (5, 6, 3), dtype=np.uint8))
    with Image.open(target) as image:
        assert "exif" not in image.info


# ---- XMP: kept exactly when nothing is stale, dropped when it cannot be checked --------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_recipe_provenance_packet_reaches_the_file_unchanged(tmp_path, rng, fmt):
    packet = xmp_packet(
        fill=True,
        recipe_sha256="ab" * 32,
        input_sha256="cd" * 32,
        steps=["remove", "upscale"],
        models=[{"name": "x <&> y", "sha256": "ef" * 32, "backend": "onnxruntime"}],
    )
    target = tmp_path / f"out{SUFFIX[fmt]}"
    write_image(
        target, rng.integers(0, 256, (5, 6, 3), dtype=np.uint8), meta=ImageMeta(fmt, xmp=packet)
    )
    assert written_metadata(target, fmt)[2] == packet


@pytest.mark.parametrize(
    "packet, reason",
    [
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>", "cannot be checked"),  # cut short
        (b"\xff\xfe not UTF-8 " + b"\x00" * 8, "cannot be checked"),
        (
            b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>',
            "DTD",
        ),
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_xmp_that_does_not_parse_is_dropped_with_a_warning(
    tmp_path, rng, caplog, fmt, packet, reason
):
    target = tmp_path / f"out{SUFFIX[fmt]}"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        write_image(
            target,
            rng.integers(0, 256, (5, 6, 3), dtype=np.uint8),
            meta=ImageMeta(fmt, xmp=packet),
        )
    assert written_metadata(target, fmt)[2] is None
    assert_one_warning(caplog, target, "dropping an XMP packet", reason)


def test_a_size_property_in_a_form_not_rewritten_is_removed(tmp_path, rng):
    packet = input_xmp(WIDTH, HEIGHT).replace(
        f"<exif:PixelYDimension>{HEIGHT}</exif:PixelYDimension>".encode(),
        b'<exif:PixelYDimension rdf:parseType="Resource"><rdf:value>7</rdf:value>'
        b"</exif:PixelYDimension>",
    )
    target = tmp_path / "out.webp"
    write_image(
        target,
        rng.integers(0, 256, (OUT_HEIGHT, OUT_WIDTH, 3), dtype=np.uint8),
        meta=ImageMeta("WEBP", xmp=packet),
    )
    values = xmp_values(written_metadata(target, "WEBP")[2])
    assert values["exif:PixelYDimension"] == []
    assert values["exif:PixelXDimension"] == [str(OUT_WIDTH)]
    assert b"<rdf:value>7</rdf:value>" not in written_metadata(target, "WEBP")[2]


def test_a_jpeg_xmp_size_limit_applies_to_the_packet_written(tmp_path, rng):
    # past the JPEG limit as given; small once rewritten (the padding outside the root element
    # is dropped), and the limit is checked on what is written
    packet = input_xmp(WIDTH, HEIGHT)
    target = tmp_path / "out.jpg"
    write_image(
        target,
        rng.integers(0, 256, (OUT_HEIGHT, OUT_WIDTH, 3), dtype=np.uint8),
        meta=ImageMeta("JPEG", xmp=packet[:-19] + b" " * 70_000 + packet[-19:]),
    )
    assert xmp_values(written_metadata(target, "JPEG")[2])["tiff:ImageWidth"] == [str(OUT_WIDTH)]


# ---- ICC profiles are checked before they are carried ---------------------------------------


def unusable_profiles(rng) -> dict[str, tuple[bytes, int, str]]:
    """name -> (profile, output channels, words the warning must hold)."""
    srgb = srgb_icc()
    cmyk = with_colour_space(srgb, b"CMYK", b"prtr")
    grey = with_colour_space(srgb, b"GRAY")
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    # the patched profiles do parse: the check must be refusing their colour space
    for profile, space in ((cmyk, "CMYK"), (grey, "GRAY")):
        assert ImageCms.ImageCmsProfile(io.BytesIO(profile)).profile.xcolor_space.strip() == space
    return {
        "random bytes": (rng.bytes(600), 3, "does not parse"),
        "a cut sRGB profile": (srgb[:200], 3, "does not parse"),
        "CMYK on RGB": (cmyk, 3, "CMYK profile does not fit a RGB output"),
        "grey on RGBA": (grey, 4, "GRAY profile does not fit a RGB output"),
        "RGB on grey": (srgb, 1, "RGB profile does not fit a grey output"),
        "Lab abstract on RGB": (lab, 3, "Lab profile does not fit"),
        "RGB device link": (with_colour_space(srgb, b"RGB ", b"link"), 3, "a device-link profile"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", list(unusable_profiles(np.random.default_rng(0))))
def test_an_unusable_icc_profile_is_not_written(tmp_path, rng, caplog, fmt, case):
    icc, channels, words = unusable_profiles(rng)[case]
    if fmt == "WEBP" and channels <= 2:
        pytest.skip("a WebP holds grey as RGB: test_a_profile_is_judged_by_the_samples_...")
    if fmt == "JPEG" and channels == 4:
        channels = 3
        words = "GRAY profile does not fit a RGB output"
    target = tmp_path / f"out{SUFFIX[fmt]}"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        write_image(
            target,
            rng.integers(0, 256, (5, 6, channels), dtype=np.uint8),
            meta=ImageMeta(fmt, icc_profile=icc),
        )
    assert written_metadata(target, fmt)[3] is None
    assert read_image(target)[1].icc_profile is None
    assert_one_warning(caplog, target, "ignoring an unusable ICC profile", words)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])  # tifffile writes any bytes too
def test_junk_icc_in_an_input_file_does_not_reach_the_output(tmp_path, rng, caplog, fmt):
    source = tmp_path / f"in{SUFFIX[fmt]}"
    junk = rng.bytes(300)
    make_input(source, fmt, rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8), icc=junk)
    pixels, meta = read_image(source)
    assert meta.icc_profile == junk  # carried from the file as it is, checked when written
    target = tmp_path / "out.tif"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        write_image(target, pixels, meta=meta)
    assert written_metadata(target, "TIFF")[3] is None
    assert_one_warning(caplog, target, "ignoring an unusable ICC profile", "does not parse")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_good_icc_profile_is_carried_without_a_warning(tmp_path, rng, caplog, fmt):
    target = tmp_path / f"out{SUFFIX[fmt]}"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        write_image(
            target,
            rng.integers(0, 256, (5, 6, 3), dtype=np.uint8),
            meta=ImageMeta(fmt, icc_profile=srgb_icc()),
        )
    assert bytes(written_metadata(target, fmt)[3]) == srgb_icc()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    "fmt, channels, space, kept",
    [
        ("PNG", 1, b"GRAY", True),
        ("TIFF", 2, b"GRAY", True),
        ("JPEG", 1, b"GRAY", True),
        ("WEBP", 1, b"GRAY", False),  # WebP has no grey mode: the file holds RGB
        ("WEBP", 2, b"RGB ", True),
    ],
)
def test_a_profile_is_judged_by_the_samples_the_file_holds(
    tmp_path, rng, caplog, fmt, channels, space, kept
):
    icc = with_colour_space(srgb_icc(), space)
    target = tmp_path / f"grey{SUFFIX[fmt]}"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        write_image(
            target,
            rng.integers(0, 256, (5, 6, channels), dtype=np.uint8),
            meta=ImageMeta(fmt, icc_profile=icc),
        )
    written = written_metadata(target, fmt)[3]
    if kept:
        assert bytes(written) == icc
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    else:
        assert written is None
        assert_one_warning(caplog, target, "GRAY profile does not fit a RGB output")


# ---- files holding several images: the first is read, and one warning says so ---------------


def frames(rng, count: int) -> list[np.ndarray]:
    return [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(count)]


def save_animation(path, fmt: str, images: list[np.ndarray]) -> None:
    first, *rest = [Image.fromarray(image) for image in images]
    options = {"lossless": True} if fmt == "WEBP" else {}
    first.save(path, format=fmt, save_all=True, append_images=rest, duration=100, **options)


@pytest.mark.parametrize("fmt, count", [("PNG", 12), ("WEBP", 3)])
def test_animations_read_their_first_frame_and_warn_once(tmp_path, rng, caplog, fmt, count):
    images = frames(rng, count)
    path = tmp_path / f"animated{SUFFIX[fmt]}"
    save_animation(path, fmt, images)
    with Image.open(path) as image:
        assert image.n_frames == count  # the file really is animated

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        pixels, _ = read_image(path)

    np.testing.assert_array_equal(pixels, images[0])
    assert_one_warning(
        caplog, path, f"{count} frames; only the first is read (burnish edits still images)"
    )


def test_a_multi_page_tiff_reads_its_first_page_and_warns_once(tmp_path, rng, caplog):
    images = frames(rng, 3)
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tif:
        for image in images:
            tif.write(image, photometric="rgb")

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        pixels, _ = read_image(path)

    np.testing.assert_array_equal(pixels, images[0])
    assert_one_warning(caplog, path, "3 pages; only the first is read")


def test_a_tiff_with_a_reduced_resolution_preview_gets_no_warning(tmp_path, rng, caplog):
    image = frames(rng, 1)[0]
    path = tmp_path / "preview.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(image, photometric="rgb")
        tif.write(image[::2, ::2], photometric="rgb", subfiletype=1)  # a reduced-resolution copy
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 2 and tif.pages[1].is_reduced

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        pixels, _ = read_image(path)

    np.testing.assert_array_equal(pixels, image)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_still_image_gets_no_frame_warning_and_probing_never_warns(tmp_path, rng, caplog, fmt):
    still = tmp_path / f"still{SUFFIX[fmt]}"
    make_input(still, fmt, frames(rng, 1)[0])
    animated = tmp_path / "animated.png"
    save_animation(animated, "PNG", frames(rng, 2))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        read_image(still)
        probe_image(animated)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
