"""RSA key generation and cached PEM loading for HTTP Signatures.

Both loaders are memoised on the PEM text. Loading a private key runs OpenSSL's RSA consistency
check (~50 ms for 2048 bits, 200x the cost of signing), so the delivery worker must not re-parse
it per request. Public-key parsing is cheaper (~10 us against ~55 us for a verification with
cryptography 48) but the inbox sees the same few thousand actors over and over, so caching still
takes a fifth off the hot path for free.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

__all__ = [
    "KEY_CACHE_SIZE",
    "MIN_RSA_BITS",
    "KeyFormatError",
    "PublicKey",
    "generate_rsa_keypair",
    "load_private_key",
    "load_public_key",
]

KEY_CACHE_SIZE = 4096
"""Entries kept by each loader cache: enough for every actor an instance talks to regularly."""

MIN_RSA_BITS = 1024
"""Smaller RSA keys are factorable and only ever seen in forgeries; Mastodon uses 2048."""

PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class KeyFormatError(ValueError):
    """A PEM key cannot be used; the message says why (safe to show to a remote server)."""


def generate_rsa_keypair() -> tuple[str, str]:
    """Return a new 2048-bit RSA key as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM).

    2048/65537 is what Mastodon, GoToSocial and Pleroma generate, so every peer accepts it.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        key.public_key()
        .public_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode("ascii")
    )
    return private_pem, public_pem


def _pem_bytes(pem: object, kind: str) -> bytes:
    """Validate the PEM argument's type and encode it; remote JSON may hold anything."""
    if not isinstance(pem, str):
        raise KeyFormatError(f"{kind} key must be a PEM string, not {type(pem).__name__}")
    text = pem.strip()
    if not text:
        raise KeyFormatError(f"{kind} key is empty")
    if "-----BEGIN " not in text:
        raise KeyFormatError(f"{kind} key is not PEM encoded (no '-----BEGIN' line)")
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise KeyFormatError(f"{kind} key PEM contains non-ASCII characters") from None


def _describe(exc: Exception) -> str:
    """First sentence of cryptography's message: enough to act on, short enough for a 401 body."""
    text = str(exc).strip() or type(exc).__name__
    first = text.split(". ", 1)[0].rstrip(".")
    return first[:200]


def _check_rsa_size(key: rsa.RSAPublicKey | rsa.RSAPrivateKey, kind: str) -> None:
    if key.key_size < MIN_RSA_BITS:
        raise KeyFormatError(f"{kind} RSA key is too small ({key.key_size} bits, minimum {MIN_RSA_BITS})")


@lru_cache(maxsize=KEY_CACHE_SIZE)
def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """Parse an unencrypted RSA private key (PKCS#8 or PKCS#1 PEM), cached on the PEM text.

    Only RSA is accepted because we only ever sign with rsa-sha256 (the one algorithm every
    fediverse server verifies).
    """
    data = _pem_bytes(pem, "Private")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFormatError("Private key is encrypted; an unencrypted PEM is required") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"Private key is not a valid PEM key: {_describe(exc)}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError(f"Private key must be RSA, got {type(key).__name__}")
    _check_rsa_size(key, "Private")
    return key


@lru_cache(maxsize=KEY_CACHE_SIZE)
def load_public_key(pem: str) -> PublicKey:
    """Parse a public key PEM (SubjectPublicKeyInfo or PKCS#1 RSA), cached on the PEM text.

    RSA is what every fediverse actor publishes; Ed25519 is accepted too because hs2019
    signatures from newer servers may use it and supporting it costs nothing.
    """
    data = _pem_bytes(pem, "Public")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(f"Public key is not a valid PEM key: {_describe(exc)}") from None
    if isinstance(key, rsa.RSAPublicKey):
        _check_rsa_size(key, "Public")
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise KeyFormatError(f"Public key must be RSA or Ed25519, got {type(key).__name__}")
