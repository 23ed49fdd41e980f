"""Tests of burnish.engine.provenance.content_credentials: signing with a throwaway certificate chain.

The chain is on no C2PA trust list, so c2pa reports ``signingCredential.untrusted``; that is
the one failure code a good signature may show here. Any other (a hash or signature mismatch)
is a failure.
"""

from __future__ import annotations

import errno
import io
import struct
import sys
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
from certificates import make_chain, private_key, write_key

from burnish.engine.imageio import read_image, write_image
from burnish.engine.provenance import content_credentials
from burnish.engine.provenance.content_credentials import read_credentials, sign_image
from burnish.errors import InputError, OptionError, OutputError

from conftest import random_image

pytest.importorskip("c2pa")

AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
EDIT = {
    "action": "c2pa.edited",
    "softwareAgent": {"name": "burnish remove"},
    "digitalSourceType": AI_SOURCE,
    "parameters": {"operation": "remove", "mask_pixels": 12},
}
UNTRUSTED = "signingCredential.untrusted"  # the throwaway CA is on no trust list


@pytest.fixture(scope="module")
def credentials(tmp_path_factory):
    return make_chain(tmp_path_factory.mktemp("credentials"))


def sign(source, target, credentials, **options):
    options = {"title": target.name, "digital_source_type": AI_SOURCE, "actions": [EDIT]} | options
    sign_image(source, target, cert_chain=credentials.chain, key=credentials.key, **options)


def active_manifest(store):
    return store["manifests"][store["active_manifest"]]


def actions_of(manifest):
    (assertion,) = [a for a in manifest["assertions"] if a["label"] == "c2pa.actions.v2"]
    return assertion["data"]["actions"]


def assert_signature_valid(store):
    """The claim signature and the data hash verify; only the trust in the chain may fail."""
    assert {status["code"] for status in store["validation_status"]} <= {UNTRUSTED}
    passed = {status["code"] for status in store["validation_results"]["activeManifest"]["success"]}
    assert {"claimSignature.validated", "assertion.dataHash.match"} <= passed


def assert_no_partial_files(folder):
    assert not [p.name for p in folder.iterdir() if ".partial-" in p.name]


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp"])
def test_signed_copy_keeps_pixels_and_records_actions(tmp_path, rng, credentials, suffix):
    source, target = tmp_path / f"made{suffix}", tmp_path / f"signed{suffix}"
    pixels = random_image(rng, 24, 32, 3)
    write_image(source, pixels)

    sign(source, target, credentials)

    store = read_credentials(target)
    assert_signature_valid(store)
    manifest = active_manifest(store)
    assert manifest["title"] == target.name
    assert "burnish" in [info["name"] for info in manifest["claim_generator_info"]]
    first, edit = actions_of(manifest)
    assert first == {
        "action": "c2pa.created",
        "softwareAgent": {"name": "burnish"},
        "digitalSourceType": AI_SOURCE,
    }
    assert edit == EDIT
    assert manifest["signature_info"]["alg"].lower() == "es256"
    # the manifest sits beside the image data: the same pixels decode (for the lossy formats,
    # the same compressed data decodes to the same pixels as the unsigned file)
    signed_pixels, _ = read_image(target)
    expected = pixels if suffix in (".png", ".tif") else read_image(source)[0]
    np.testing.assert_array_equal(signed_pixels, expected)
    assert_no_partial_files(tmp_path)


def test_ingredient_is_the_opened_parent(tmp_path, rng, credentials):
    original, result = tmp_path / "original.jpg", tmp_path / "result.png"
    write_image(original, random_image(rng, 24, 32, 3))
    write_image(result, random_image(rng, 24, 32, 3))

    sign(result, result, credentials, ingredient=original, software="burnish 9")

    store = read_credentials(result)
    assert_signature_valid(store)
    manifest = active_manifest(store)
    (parent,) = manifest["ingredients"]
    assert (parent["title"], parent["relationship"]) == ("original.jpg", "parentOf")
    opened, edit = actions_of(manifest)
    assert opened["action"] == "c2pa.opened"
    assert opened["softwareAgent"] == {"name": "burnish 9"}
    assert opened["parameters"]["ingredients"][0]["url"].endswith(parent["label"])
    assert edit == EDIT


def test_action_defaults_come_from_the_call(tmp_path, rng, credentials):
    source = tmp_path / "made.png"
    write_image(source, random_image(rng, 8, 8, 3))

    sign(source, source, credentials, actions=[{"action": "c2pa.color_adjustments"}])

    (_, adjusted) = actions_of(active_manifest(read_credentials(source)))
    assert adjusted == {
        "action": "c2pa.color_adjustments",
        "softwareAgent": {"name": "burnish"},
        "digitalSourceType": AI_SOURCE,
    }


@pytest.mark.parametrize(
    ("key_type", "algorithm"), [("p384", "es384"), ("ed25519", "ed25519"), ("rsa", "ps256")]
)
def test_algorithm_follows_the_key(tmp_path, rng, key_type, algorithm):
    source = tmp_path / "made.png"
    write_image(source, random_image(rng, 8, 8, 3))

    sign(source, source, make_chain(tmp_path, key_type))

    store = read_credentials(source)
    assert_signature_valid(store)
    assert active_manifest(store)["signature_info"]["alg"].lower() == algorithm


def _rewrite_png_pixels(data: bytes) -> bytes:
    """The PNG with one pixel changed, its IDATs re-encoded as one; the other chunks (the
    manifest's among them) kept byte for byte."""
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + length]))
        at += 12 + length
    scanlines = bytearray(
        zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    )
    scanlines[1] ^= 0x55  # the first pixel's red (byte 0 is the row's filter type)
    first_idat = next(i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    kept = [chunk for chunk in chunks if chunk[0] != b"IDAT"]
    kept.insert(first_idat, (b"IDAT", zlib.compress(bytes(scanlines))))
    return data[:8] + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in kept
    )


def _flip_jpeg_scan_byte(data: bytes) -> bytes:
    """The JPEG with one byte of its entropy-coded scan changed, the markers left intact."""
    scan = data.rindex(b"\xff\xda")  # the manifest's APP11 segments come before the scan
    data = bytearray(data)
    at = next(
        i
        for i in range((scan + len(data)) // 2, len(data) - 2)
        if data[i] < 0xFE and data[i - 1] != 0xFF
    )
    data[at] ^= 0x01
    return bytes(data)


@pytest.mark.parametrize(
    ("suffix", "tamper"), [(".png", _rewrite_png_pixels), (".jpg", _flip_jpeg_scan_byte)]
)
def test_tampered_pixels_fail_the_hash(tmp_path, rng, credentials, suffix, tamper):
    image = tmp_path / f"made{suffix}"
    write_image(image, random_image(rng, 24, 32, 3))
    sign(image, image, credentials)

    image.write_bytes(tamper(image.read_bytes()))

    store = read_credentials(image)
    assert "assertion.dataHash.mismatch" in {
        status["code"] for status in store["validation_status"]
    }
    assert store["validation_state"] == "Invalid"
    # the manifest itself is untouched: its signature still verifies
    assert actions_of(active_manifest(store))[1] == EDIT


def _assert_refused(tmp_path, error_type, excinfo, *fragments):
    message = str(excinfo.value)
    assert isinstance(excinfo.value, error_type)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert not (tmp_path / "signed.png").exists()
    assert_no_partial_files(tmp_path)


def test_key_not_matching_the_certificate_is_refused(tmp_path, rng, credentials):
    source = tmp_path / "made.png"
    write_image(source, random_image(rng, 8, 8, 3))
    wrong_key = write_key(private_key("p256"), tmp_path / "other.pem")

    with pytest.raises(OptionError) as excinfo:
        sign(
            source, tmp_path / "signed.png", SimpleNamespace(chain=credentials.chain, key=wrong_key)
        )

    _assert_refused(tmp_path, OptionError, excinfo, str(wrong_key), "does not match")


def test_certificate_c2pa_refuses_leaves_nothing(tmp_path, rng):
    source = tmp_path / "made.png"
    write_image(source, random_image(rng, 8, 8, 3))
    no_eku = make_chain(tmp_path, eku=False)

    with pytest.raises(OptionError) as excinfo:
        sign(source, tmp_path / "signed.png", no_eku)

    _assert_refused(tmp_path, OptionError, excinfo, str(no_eku.chain), "certificate")


def test_missing_certificate_is_named(tmp_path, rng, credentials):
    source = tmp_path / "made.png"
    write_image(source, random_image(rng, 8, 8, 3))
    missing = tmp_path / "nowhere.pem"

    with pytest.raises(OptionError) as excinfo:
        sign(source, tmp_path / "signed.png", SimpleNamespace(chain=missing, key=credentials.key))

    _assert_refused(tmp_path, OptionError, excinfo, str(missing), "certificate chain")


def test_failed_write_leaves_nothing(tmp_path, rng, credentials, monkeypatch):
    source = tmp_path / "made.png"
    write_image(source, random_image(rng, 8, 8, 3))
    create_temp = content_credentials.create_temp

    class FullDisk(io.BufferedRandom):
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    def full_temp(path):
        temp_path, file = create_temp(path)
        return temp_path, FullDisk(file.detach())

    monkeypatch.setattr(content_credentials, "create_temp", full_temp)

    with pytest.raises(OutputError) as excinfo:
        sign(source, tmp_path / "signed.png", credentials)

    _assert_refused(tmp_path, OutputError, excinfo, "No space left on device", "signed.png")


def test_unsupported_format_and_unsigned_files(tmp_path, rng, credentials):
    gif = tmp_path / "made.gif"
    gif.write_bytes(b"GIF89a")
    with pytest.raises(OptionError, match="PNG, JPEG, TIFF and WebP"):
        sign(gif, tmp_path / "signed.gif", credentials)

    plain = tmp_path / "plain.png"
    write_image(plain, random_image(rng, 8, 8, 3))
    with pytest.raises(InputError, match="no Content Credentials"):
        read_credentials(plain)


def test_without_c2pa_python(tmp_path, credentials, monkeypatch):
    monkeypatch.setitem(sys.modules, "c2pa", None)  # import c2pa now raises ImportError

    with pytest.raises(OptionError, match="pip install c2pa-python"):
        sign(tmp_path / "made.png", tmp_path / "signed.png", credentials)
