"""A throwaway certificate chain that c2pa-rs accepts for signing, made fresh by the tests."""

from __future__ import annotations

import datetime
from types import SimpleNamespace


def make_chain(folder, key_type="p256", eku=True):
    """A root CA and an end-entity certificate it issued, as c2pa-rs wants a signer's.

    c2pa-rs 0.91 requires of the end-entity certificate: the digitalSignature key usage, an
    extended key usage it recognises (emailProtection; it refuses none, serverAuth and the
    Microsoft document-signing OID, and id-kp-documentSigning fails its own check after
    signing) and an authority key identifier. Writes ``chain.pem`` (end-entity first) and
    ``key.pem`` (PKCS#8) into ``folder``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = private_key("p256")
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "burnish test CA")])
    ca = (
        _certificate(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = private_key(key_type)
    builder = (
        _certificate(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "burnish test signer")]),
            ca_name,
            key.public_key(),
            now,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
    signer = builder.sign(ca_key, hashes.SHA256())
    chain = folder / "chain.pem"
    chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (signer, ca)))
    return SimpleNamespace(chain=chain, key=write_key(key, folder / "key.pem"))


def _certificate(subject, issuer, public_key, now):
    from cryptography import x509

    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
    )


def _key_usage(digital_signature=False, key_cert_sign=False):
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def private_key(key_type):
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key({"p256": ec.SECP256R1(), "p384": ec.SECP384R1()}[key_type])


def write_key(key, path):
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path
