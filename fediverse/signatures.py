"""HTTP Signatures (draft-cavage-http-signatures-12) as spoken by Mastodon, GoToSocial and bovine.

Pure functions, no I/O: the inbox handler fetches the actor's key and passes the PEM in. Crypto is
done with `cryptography` (OpenSSL) because verification sits on the inbox hot path; the tests
cross-check every byte of the signing string against the independent `httpsig` package.

Every rejection raises `SignatureError`, whose message is a short human reason that is sent back
verbatim to the remote server in a 401 body, so it never contains secrets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from fediverse.keys import KeyFormatError, load_private_key, load_public_key

__all__ = [
    "ACTIVITY_JSON",
    "DEFAULT_ACCEPT",
    "GET_SIGNED_HEADERS",
    "POST_SIGNED_HEADERS",
    "SUPPORTED_ALGORITHMS",
    "SignatureError",
    "SignatureParams",
    "body_digest",
    "parse_signature_header",
    "sign_request",
    "signing_string",
    "verify_digest",
    "verify_request",
]

ACTIVITY_JSON = "application/activity+json"
DEFAULT_ACCEPT = (
    'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
)

POST_SIGNED_HEADERS: tuple[str, ...] = ("(request-target)", "host", "date", "digest", "content-type")
"""What we sign on POST: the set Mastodon signs, and Mastodon requires digest on POST."""

GET_SIGNED_HEADERS: tuple[str, ...] = ("(request-target)", "host", "date", "accept")
"""What we sign on GET (authorized fetch); accept is included as Mastodon does."""

SUPPORTED_ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})
"""rsa-sha1 and hmac-* are refused: SHA-1 is broken and HMAC needs a shared secret we never have."""

# Limits that no legitimate peer comes near; they bound the work done on hostile input.
MAX_HEADER_LENGTH = 8192
MAX_KEY_ID_LENGTH = 2048
MAX_SIGNED_HEADERS = 32
MAX_SIGNATURE_BYTES = 1024  # an 8192-bit RSA signature
_MAX_TIMESTAMP_DIGITS = 12

_DIGEST_ALGORITHMS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# One `name = value` element of the Signature header; value is a quoted-string (with quoted-pair
# escapes) or a bare token. Anchored with .match() at successive offsets so nothing is skipped.
_PARAM_RE = re.compile(
    r"""[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^\s",]*))[ \t]*(,|\Z)""",
    re.DOTALL,
)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
_HEADER_NAME_RE = re.compile(r"^(?:\([a-z-]+\)|[!#$%&'*+.^_`|~0-9a-z-]+)$")
_SCHEME_PREFIX_RE = re.compile(r"^\s*signature\s+(?=[A-Za-z][A-Za-z0-9_-]*\s*=)", re.IGNORECASE)


class SignatureError(Exception):
    """The request's signature is unacceptable; str() is the human reason sent in the 401 body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class SignatureParams:
    """The parsed `Signature` header; names are lowercased, the signature is raw bytes."""

    key_id: str
    algorithm: str
    headers: tuple[str, ...]
    signature: bytes
    created: int | None
    expires: int | None


# --------------------------------------------------------------------------- parsing


def _parse_timestamp(name: str, raw: str) -> int:
    """created/expires are integer Unix times; bound the digits so int() stays cheap and sane."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureError(f"Signature parameter {name} must be an integer Unix timestamp")
    return int(raw)


def parse_signature_header(value: str) -> SignatureParams:
    """Parse `keyId="...",algorithm="...",headers="...",signature="..."` strictly.

    Quoted values may contain commas (keyIds are URLs), so this is a real tokenizer rather than
    a split on ','. An `Authorization: Signature ...` value is accepted too. Duplicated or
    oversized parameters are refused because they only appear in attacks or broken peers.
    """
    if not isinstance(value, str) or not value.strip():
        raise SignatureError("Missing Signature header")
    if len(value) > MAX_HEADER_LENGTH:
        raise SignatureError(f"Signature header is too long (over {MAX_HEADER_LENGTH} characters)")
    text = _SCHEME_PREFIX_RE.sub("", value, count=1).strip()

    params: dict[str, str] = {}
    pos = 0
    end = len(text)
    while pos < end:
        match = _PARAM_RE.match(text, pos)
        if match is None:
            raise SignatureError(f"Malformed Signature header near character {pos}")
        name = match.group(1).lower()
        quoted, bare, separator = match.group(2), match.group(3), match.group(4)
        if name in params:
            raise SignatureError(f"Duplicated Signature parameter {match.group(1)}")
        params[name] = _QUOTED_PAIR_RE.sub(r"\1", quoted) if quoted is not None else bare
        pos = match.end()
        if separator == "," and pos >= end:
            raise SignatureError("Malformed Signature header: trailing comma")

    key_id = params.get("keyid")
    if not key_id:
        raise SignatureError("Signature header has no keyId")
    if len(key_id) > MAX_KEY_ID_LENGTH:
        raise SignatureError(f"Signature keyId is too long (over {MAX_KEY_ID_LENGTH} characters)")

    raw_signature = params.get("signature")
    if not raw_signature:
        raise SignatureError("Signature header has no signature")
    if len(raw_signature) > (MAX_SIGNATURE_BYTES * 4) // 3 + 4:
        raise SignatureError("Signature value is too long")
    try:
        signature = base64.b64decode(raw_signature, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("Signature value is not valid base64") from None
    if not signature:
        raise SignatureError("Signature value is empty")

    # draft-cavage-12 §2.1.3: algorithm is optional, and unknown means "derive from the key",
    # which is exactly what hs2019 means.
    algorithm = (params.get("algorithm") or "hs2019").strip().lower()

    # §2.1.6: when headers is absent, only the Date header is signed.
    raw_headers = params.get("headers")
    if raw_headers is None:
        headers: tuple[str, ...] = ("date",)
    else:
        headers = tuple(raw_headers.lower().split())
        if not headers:
            raise SignatureError("Signature headers parameter is empty")
        if len(headers) > MAX_SIGNED_HEADERS:
            raise SignatureError(f"Signature covers too many headers (over {MAX_SIGNED_HEADERS})")
        if len(set(headers)) != len(headers):
            raise SignatureError("Signature headers parameter lists a header twice")
        for name in headers:
            if not _HEADER_NAME_RE.match(name):
                raise SignatureError(f"Signature headers parameter has an invalid name {name!r}")

    created = _parse_timestamp("created", params["created"]) if "created" in params else None
    expires = _parse_timestamp("expires", params["expires"]) if "expires" in params else None

    return SignatureParams(
        key_id=key_id,
        algorithm=algorithm,
        headers=headers,
        signature=signature,
        created=created,
        expires=expires,
    )


# --------------------------------------------------------------------------- digest


def body_digest(body: bytes) -> str:
    """Return the RFC 3230 `Digest` value Mastodon expects: `SHA-256=<base64>`."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def verify_digest(header_value: str | None, body: bytes) -> None:
    """Check a `Digest` header against the body; the signature only protects the body through it.

    Several comma-separated digests are allowed (RFC 3230). At least one SHA-256 or SHA-512
    entry is required and every such entry must match; the same algorithm listed twice with
    different values is refused, since which one "counts" would be ambiguous.
    """
    if header_value is None or not header_value.strip():
        raise SignatureError("Missing Digest header")
    if len(header_value) > MAX_HEADER_LENGTH:
        raise SignatureError("Digest header is too long")

    found: dict[str, str] = {}
    for entry in header_value.split(","):
        entry = entry.strip()
        if not entry:
            continue
        algorithm, sep, encoded = entry.partition("=")
        if not sep:
            raise SignatureError(f"Malformed Digest header entry {entry[:40]!r}")
        algorithm = algorithm.strip().lower()
        encoded = encoded.strip()
        if algorithm not in _DIGEST_ALGORITHMS:
            continue
        previous = found.get(algorithm)
        if previous is not None and previous != encoded:
            raise SignatureError(f"Digest header has conflicting {algorithm.upper()} values")
        found[algorithm] = encoded

    if not found:
        raise SignatureError("Digest header has no SHA-256 or SHA-512 value")
    for algorithm, encoded in found.items():
        try:
            expected = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError(f"Digest {algorithm.upper()} value is not valid base64") from None
        actual = _DIGEST_ALGORITHMS[algorithm](body).digest()
        if not hmac.compare_digest(expected, actual):
            raise SignatureError("Digest does not match body")


# --------------------------------------------------------------------------- signing string


def _lowercase_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Fold any mapping to lowercase names; repeated fields (Starlette Headers) join with ', '.

    Iterating items() works for plain dicts with any casing and for Starlette's Headers, whose
    items() yields every raw field, which is what §2.3 asks for with repeated headers.
    """
    folded: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        value = value.strip()
        folded[key] = f"{folded[key]}, {value}" if key in folded else value
    return folded


def _build_signing_string(
    method: str,
    path: str,
    folded: Mapping[str, str],
    signed_headers: Sequence[str],
    created: int | None,
    expires: int | None,
) -> str:
    lines: list[str] = []
    for raw_name in signed_headers:
        name = raw_name.lower()
        if name == "(request-target)":
            value = f"{method.lower()} {path}"
        elif name == "(created)":
            if created is None:
                raise SignatureError("Signature covers (created) but has no created parameter")
            value = str(created)
        elif name == "(expires)":
            if expires is None:
                raise SignatureError("Signature covers (expires) but has no expires parameter")
            value = str(expires)
        elif name.startswith("("):
            raise SignatureError(f"Signature covers unknown pseudo-header {name}")
        else:
            found = folded.get(name)
            if found is None:
                raise SignatureError(f"Signed header {name} is missing from the request")
            value = found
        if "\n" in value or "\r" in value:
            # A newline would let one header impersonate several lines of the signing string.
            raise SignatureError(f"Signed header {name} contains a line break")
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def signing_string(
    method: str,
    path: str,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    created: int | None = None,
    expires: int | None = None,
) -> str:
    """Build the draft-cavage-12 §2.3 signing string.

    `path` must be the request target exactly as sent on the wire, query string included (for
    Starlette: scope["raw_path"] plus "?" + query_string, not the percent-decoded path), or
    signatures over non-ASCII or escaped paths will not match. `headers` is looked up
    case-insensitively.
    """
    return _build_signing_string(method, path, _lowercase_headers(headers), signed_headers, created, expires)


def _encode(text: str) -> bytes:
    """Recover the wire bytes: Starlette decodes headers as latin-1; fall back to UTF-8 otherwise."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


# --------------------------------------------------------------------------- signing


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)


def sign_request(
    method: str,
    url: str,
    *,
    key_id: str,
    private_key_pem: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """Return every header to send with a signed request (rsa-sha256, the one all peers accept).

    Host, Date, Digest and Signature are always computed here (a caller-supplied value would
    break the signature); Content-Type and Accept default to ActivityPub types unless given.
    POST/PUT/PATCH always carry a Digest (of b"" if no body) because Mastodon requires it.
    """
    if not key_id or any(ch in key_id for ch in '"\\\r\n'):
        raise ValueError("key_id must be non-empty and contain no quotes, backslashes or newlines")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"Cannot sign a request to {url!r}: an absolute http(s) URL is required")
    method = method.upper()
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    if body is None and method in _BODY_METHODS:
        body = b""

    result: dict[str, str] = {}
    names: dict[str, str] = {}  # lowercase -> the spelling stored in result

    def put(name: str, value: str, *, override: bool = True) -> None:
        existing = names.get(name.lower())
        if existing is not None:
            if not override:
                return
            del result[existing]
        names[name.lower()] = name
        result[name] = value

    for name, value in (headers or {}).items():
        if name.lower() != "signature":
            put(name, value)
    put("Host", parts.netloc.rpartition("@")[2])
    put("Date", format_datetime(_utc(now).replace(microsecond=0), usegmt=True))
    if body is not None:
        put("Digest", body_digest(body))
        put("Content-Type", ACTIVITY_JSON, override=False)
        signed: tuple[str, ...] = POST_SIGNED_HEADERS
    else:
        put("Accept", DEFAULT_ACCEPT, override=False)
        signed = GET_SIGNED_HEADERS

    text = _build_signing_string(method, target, _lowercase_headers(result), signed, None, None)
    key = load_private_key(private_key_pem)
    signature = key.sign(_encode(text), padding.PKCS1v15(), hashes.SHA256())
    put(
        "Signature",
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(signed)}",'
        f'signature="{base64.b64encode(signature).decode("ascii")}"',
    )
    return result


# --------------------------------------------------------------------------- verification


def _covers(signed: tuple[str, ...], required: str) -> bool:
    """A required `date` is also met by `(created)`: both bind the signature to a time."""
    if required in signed:
        return True
    return required == "date" and "(created)" in signed


def verify_request(
    method: str,
    path: str,
    headers: Mapping[str, str],
    params: SignatureParams,
    public_key_pem: str,
    *,
    body: bytes | None,
    required_headers: Sequence[str],
    now: datetime | None = None,
    max_age: int = 43200,
    max_future: int = 3600,
) -> None:
    """Raise SignatureError unless the request carries a valid, fresh signature by this key.

    Cheap checks run first (coverage, freshness, digest, algorithm) so forged or replayed
    requests are turned away before any public-key operation. `path` is the raw request
    target with query string (see `signing_string`). Requiring `date` is also satisfied by a
    signed `(created)`. Passing `body` makes a signed, matching Digest mandatory.
    """
    signed = params.headers
    for required in required_headers:
        name = required.lower()
        if not _covers(signed, name):
            raise SignatureError(f"Signature does not cover {name}")

    folded = _lowercase_headers(headers)
    current = _utc(now)
    now_ts = current.timestamp()

    if "date" in signed:
        raw_date = folded.get("date")
        if raw_date is None:
            raise SignatureError("Signed header date is missing from the request")
        try:
            date = parsedate_to_datetime(raw_date)
        except (TypeError, ValueError, IndexError, OverflowError):
            raise SignatureError("Date header is not a valid HTTP date") from None
        date_ts = _utc(date).timestamp()
        if date_ts > now_ts + max_future:
            raise SignatureError("Date is too far in the future")
        if date_ts < now_ts - max_age:
            raise SignatureError("Date is too old")

    algorithm = params.algorithm
    if algorithm != "hs2019" and ("(created)" in signed or "(expires)" in signed):
        # draft-cavage-12 §2.3: (created)/(expires) are an error with rsa-*, hmac-*, ecdsa-*.
        raise SignatureError(f"(created) and (expires) are only allowed with hs2019, not {algorithm}")
    if params.created is not None:
        if params.created > now_ts + max_future:
            raise SignatureError("Signature created time is in the future")
        if params.created < now_ts - max_age:
            raise SignatureError("Signature created time is too old")
    if params.expires is not None and params.expires < now_ts:
        raise SignatureError("Signature has expired")

    if body is not None:
        if "digest" not in signed:
            raise SignatureError("Signature does not cover digest")
        verify_digest(folded.get("digest"), body)

    if algorithm not in SUPPORTED_ALGORITHMS:
        raise SignatureError(f"Unsupported signature algorithm {algorithm!r} (use rsa-sha256 or hs2019)")
    try:
        key = load_public_key(public_key_pem)
    except KeyFormatError as exc:
        raise SignatureError(f"Unusable public key for {params.key_id}: {exc}") from None

    data = _encode(_build_signing_string(method, path, folded, signed, params.created, params.expires))
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(params.signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey) and algorithm == "hs2019":
            key.verify(params.signature, data)
        else:
            raise SignatureError(f"Algorithm {algorithm} cannot be used with an Ed25519 key")
    except InvalidSignature:
        raise SignatureError("Signature does not match") from None
