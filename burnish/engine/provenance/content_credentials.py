"""C2PA Content Credentials: a signed record of how burnish made an image, embedded in the file.

:func:`sign_image` writes a copy of a finished PNG, JPEG, TIFF or WebP with a C2PA manifest
signed by the user's certificate: which software made it, what it did (the ``c2pa.actions.v2``
assertion, with an IPTC digital source type such as ``compositeWithTrainedAlgorithmicMedia``
for AI inpainting) and, when given, the image it started from as a parent ingredient. Anyone
with a C2PA reader can then check that the pixels are the ones signed, and who signed them.
:func:`read_credentials` reads such a record back with its validation status.

It is optional: c2pa-python (which brings ``cryptography``) is imported only when these
functions run, so burnish imports and works without it.

Choices, and why:

- Nothing reaches the network. No timestamp authority is used: a time-stamp is an online
  request to a third party, which an image engine must not make behind the user's back (the
  cost is that the signature is only valid while the certificate is). OCSP and remote manifest
  fetching are switched off for the same reason.
- The signing algorithm follows from the private key (EC P-256 es256, P-384 es384, P-521
  es512, Ed25519 ed25519, RSA ps256), so the user supplies a certificate and a key and nothing
  that can contradict them. The key must match the first certificate of the chain; this is
  checked before signing, to say so rather than report a failed signature.
- No thumbnail is embedded: it would duplicate the image in the manifest, and c2pa would decode
  the whole (possibly very large) image once more, with its own decoder, to make it.
- The signed file is written beside the target under a temporary name and renamed over it
  only when complete, as every burnish output is, so a failure never leaves a partial file.

C2PA (c2pa-rs) accepts as signing certificate an end-entity certificate (not a CA) with the
digitalSignature key usage, an extended key usage it recognises (emailProtection works) and an
authority key identifier, issued by a CA whose certificate follows it in the chain. A chain
that is not on a C2PA trust list still signs and validates, with the status
``signingCredential.untrusted``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from burnish.engine.imageio.write import create_temp, remove_quietly
from burnish.engine.provenance.sidecar import IPTC as IPTC_SOURCE_TYPES
from burnish.errors import InputError, OptionError, OutputError, first_line

MIME_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
}


# c2pa-rs settings: no network (see the module docstring) and no thumbnails.
_SETTINGS = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "builder": {"thumbnail": {"enabled": False}},
}

# what c2pa-rs asks of a signing certificate, for the error when it refuses one
_CERTIFICATE_HINT = (
    "C2PA needs an end-entity certificate with digitalSignature key usage, an extended key "
    "usage such as emailProtection and an authority key identifier, followed by its CA"
)

_PARENT = "parent"  # the ingredient's label, referred to by the c2pa.opened action


def sign_image(
    source: Path,
    target: Path,
    *,
    cert_chain: Path,
    key: Path,
    title: str,
    digital_source_type: str,
    actions: list[dict],
    software: str = "burnish",
    ingredient: Path | None = None,
) -> None:
    """Write ``source`` to ``target`` with a signed C2PA manifest, atomically.

    Parameters
    ----------
    source, target : Path
        The image to sign and where to write the signed copy: PNG, JPEG, TIFF or WebP, the
        format from the suffix, the same for both. ``target`` may be ``source``.
    cert_chain : Path
        PEM certificates: the signing certificate first, then the CA(s) that issued it.
    key : Path
        The signing certificate's private key, PEM (PKCS#8, SEC1 or PKCS#1), unencrypted.
    title : str
        The manifest's title (``dc:title``), usually the file name.
    digital_source_type : str
        A full IPTC digital source type URI (``http://cv.iptc.org/newscodes/digitalsourcetype/
        ...``): on ``c2pa.created`` when there is no ingredient, and on each of ``actions``
        that has no ``digitalSourceType`` of its own.
    actions : list of dict
        C2PA actions (``{"action": "c2pa.edited", "parameters": {...}}``), in order; each
        gets ``softwareAgent`` ``{"name": software}`` unless it has one. A first action is
        added before them, as C2PA requires: ``c2pa.opened`` of ``ingredient`` or, without
        one, ``c2pa.created``.
    software : str
        The claim generator and software agent named in the manifest.
    ingredient : Path, optional
        The image the result was made from, recorded as its parent ingredient (with its own
        credentials, if it has any).

    Raises
    ------
    OptionError
        c2pa-python is missing; the certificate or key cannot be read, do not match or are
        refused; a format is not supported; the actions are malformed.
    InputError
        ``source`` or ``ingredient`` cannot be read or parsed.
    OutputError
        ``target`` cannot be written.
    """
    c2pa = require_c2pa()
    source, target, cert_chain = Path(source), Path(target), Path(cert_chain)
    mime = _mime_type(source)
    if _mime_type(target) != mime:
        raise OptionError(f"the signed copy must have the format of {source.name}", path=target)
    if not digital_source_type.startswith(IPTC_SOURCE_TYPES):
        raise OptionError(
            f"the digital source type must be a URI starting {IPTC_SOURCE_TYPES}, "
            f"not {digital_source_type!r}"
        )
    manifest = _manifest(title, digital_source_type, actions, software, ingredient)
    algorithm, chain_pem, key_pem = _load_credentials(cert_chain, Path(key))

    with (
        c2pa.Context.from_dict(_SETTINGS) as context,
        _signer(c2pa, algorithm, chain_pem, key_pem, cert_chain) as signer,
        c2pa.Builder(manifest, context=context) as builder,
    ):
        if ingredient is not None:
            _add_parent(c2pa, builder, Path(ingredient))
        _sign_to(c2pa, builder, signer, mime, source, target, cert_chain)


def read_credentials(path: Path) -> dict:
    """The C2PA manifest store of ``path``, validated, as c2pa reports it.

    The dict has ``active_manifest`` (a label), ``manifests`` (label to manifest: its
    ``assertions``, ``ingredients``, ``claim_generator_info``, ``signature_info``...),
    ``validation_state`` (``"Valid"``, ``"Trusted"`` or ``"Invalid"``), ``validation_results``
    and ``validation_status``: the failure codes (``assertion.dataHash.mismatch`` for
    altered pixels, ``signingCredential.untrusted`` for a certificate on no trust list), an
    empty list when there are none.

    Raises :class:`OptionError` without c2pa-python, :class:`InputError` when the file cannot
    be read or has no Content Credentials.
    """
    c2pa = require_c2pa()
    path = Path(path)
    try:
        stream = open(path, "rb")  # closed by the with below
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or first_line(error)}", path=path) from None
    try:
        # an unknown suffix: c2pa finds the format from the bytes
        with (
            stream,
            c2pa.Context.from_dict(_SETTINGS) as context,
            c2pa.Reader(MIME_TYPES.get(path.suffix.lower()), stream, context=context) as reader,
        ):
            store = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        raise InputError("has no Content Credentials", path=path) from None
    except c2pa.C2paError as error:
        raise InputError(f"cannot read Content Credentials: {_reason(error)}", path=path) from None
    store.setdefault("validation_status", [])
    return store


def require_c2pa():
    """The c2pa module, or the :class:`OptionError` saying how to install it (callers check
    before a batch starts, rather than fail on its first output)."""
    try:
        import c2pa
    except ImportError:
        raise OptionError("C2PA signing needs c2pa-python: pip install c2pa-python") from None
    return c2pa


def _mime_type(path: Path) -> str:
    mime = MIME_TYPES.get(path.suffix.lower())
    if mime is None:
        raise OptionError(
            "C2PA signing supports PNG, JPEG, TIFF and WebP files, not "
            f"{path.suffix or 'a file without a suffix'}",
            path=path,
        )
    return mime


def _manifest(title, digital_source_type, actions, software, ingredient) -> str:
    """The manifest definition as JSON: claim generator, title and the actions assertion."""
    agent = {"name": software}
    if ingredient is None:
        first = {"action": "c2pa.created", "digitalSourceType": digital_source_type}
    else:
        first = {"action": "c2pa.opened", "parameters": {"ingredientIds": [_PARENT]}}
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action"), str):
            raise OptionError(f"a C2PA action must be a dict with an 'action' name, not {action!r}")
    listed = [{"softwareAgent": agent, **first}] + [
        {"softwareAgent": agent, "digitalSourceType": digital_source_type, **action}
        for action in actions
    ]
    manifest = {
        "claim_generator_info": [agent],
        "title": title,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": listed}}],
    }
    try:
        return json.dumps(manifest)
    except (TypeError, ValueError) as error:
        raise OptionError(f"the C2PA actions are not JSON: {first_line(error)}") from None


def _load_credentials(cert_chain: Path, key: Path) -> tuple[str, bytes, bytes]:
    """The signing algorithm and the chain and key as PEM c2pa takes (key as PKCS#8).

    The key is parsed here to choose the algorithm from its type and to check it against the
    signing certificate, which c2pa would only report as a signature that does not verify.
    (``cryptography`` is a dependency of c2pa-python.)
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        certificates = x509.load_pem_x509_certificates(_read(cert_chain, "certificate chain"))
    except ValueError as error:
        raise OptionError(
            f"not a PEM certificate chain: {first_line(error)}", path=cert_chain
        ) from None
    try:
        private_key = serialization.load_pem_private_key(_read(key, "private key"), None)
    except (ValueError, TypeError) as error:  # TypeError: the key is encrypted
        raise OptionError(f"not a usable PEM private key: {first_line(error)}", path=key) from None

    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        algorithm = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(
            private_key.curve.name
        )
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        algorithm = "ed25519"
    elif isinstance(private_key, rsa.RSAPrivateKey):
        algorithm = "ps256"
    else:
        algorithm = None
    if algorithm is None:
        raise OptionError(
            "C2PA signs with EC P-256, P-384 or P-521, Ed25519 or RSA keys, not "
            f"{type(private_key).__name__.removeprefix('_')}",
            path=key,
        )

    def public_key_of(holder) -> bytes:  # a certificate or a private key
        return holder.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    if public_key_of(certificates[0]) != public_key_of(private_key):
        raise OptionError(
            f"the key does not match the first certificate of {cert_chain} "
            "(the signing certificate comes first)",
            path=key,
        )
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return algorithm, chain_pem, key_pem


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise OptionError(
            f"cannot read the {what}: {error.strerror or first_line(error)}", path=path
        ) from None


def _signer(c2pa, algorithm, chain_pem, key_pem, cert_chain):
    try:
        # no timestamp authority: None, so nothing is sent anywhere
        return c2pa.Signer.from_info(c2pa.C2paSignerInfo(algorithm, chain_pem, key_pem, None))
    except c2pa.C2paError as error:
        raise OptionError(
            f"cannot sign with this chain: {_reason(error)}", path=cert_chain
        ) from None


def _add_parent(c2pa, builder, ingredient: Path) -> None:
    definition = {"title": ingredient.name, "relationship": "parentOf", "label": _PARENT}
    try:
        with open(ingredient, "rb") as stream:
            builder.add_ingredient(definition, _mime_type(ingredient), stream)
    except OSError as error:
        raise InputError(
            f"cannot read the ingredient: {error.strerror or first_line(error)}", path=ingredient
        ) from None
    except c2pa.C2paError as error:
        raise InputError(f"not a usable ingredient: {_reason(error)}", path=ingredient) from None


def _sign_to(c2pa, builder, signer, mime, source: Path, target: Path, cert_chain: Path) -> None:
    """Sign ``source`` into a temporary file beside ``target``, then rename it over ``target``."""
    try:
        source_file = open(source, "rb")  # closed by the with below
    except OSError as error:
        raise InputError(
            f"cannot read: {error.strerror or first_line(error)}", path=source
        ) from None
    with source_file:
        temp_path, temp_file = create_temp(target)
        sink = _WriteErrorKeeper(temp_file)
        try:
            with temp_file:
                try:
                    builder.sign(signer, mime, source_file, sink)
                except c2pa.C2paError as error:
                    raise _sign_error(c2pa, error, sink.error, source, target, cert_chain) from None
                temp_file.flush()
                os.fsync(temp_file.fileno())  # on disk before the rename, as imageio's writer does
            os.replace(temp_path, target)
        except OSError as error:
            remove_quietly(temp_path)
            reason = error.strerror or first_line(error)
            raise OutputError(f"cannot write the signed file: {reason}", path=target) from None
        except BaseException:
            remove_quietly(temp_path)
            raise


def _sign_error(c2pa, error, write_error, source: Path, target: Path, cert_chain: Path):
    """The burnish error for a failed ``Builder.sign``, by what c2pa says went wrong."""
    if write_error is not None:
        reason = write_error.strerror or first_line(write_error)
        return OutputError(f"cannot write the signed file: {reason}", path=target)
    if isinstance(error, c2pa.C2paError.Signature):
        return OptionError(f"cannot sign: {_reason(error)} ({_CERTIFICATE_HINT})", path=cert_chain)
    if isinstance(error, c2pa.C2paError.Verify):
        # the manifest as signed fails C2PA's rules (the certificate profile, the actions)
        return OptionError(f"C2PA rejects the manifest: {_reason(error)}")
    return InputError(f"cannot add Content Credentials: {_reason(error)}", path=source)


class _WriteErrorKeeper:
    """The temporary file as c2pa sees it, keeping the ``OSError`` of a failed write.

    c2pa turns a failed write into an opaque error (``Io: Other: UntrackedPointer``); the
    ``OSError`` kept here (a full disk, say) is what the user is told instead.
    """

    def __init__(self, file):
        self._file = file
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self._file.write(data)
        except OSError as error:
            self.error = error
            raise

    def __getattr__(self, name):
        return getattr(self._file, name)


def _reason(error) -> str:
    """c2pa's error text on one line.

    A validation failure's first line is only ``manifest failed validation with: failures:``,
    with the failures on the lines after it, so the lines are joined rather than cut.
    """
    return first_line(" ".join(str(error).split()), limit=300)
