"""HTTP Signatures: our implementation cross-checked against the independent `httpsig` package."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpsig
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding

from fediverse.keys import KeyFormatError, generate_rsa_keypair, load_private_key, load_public_key
from fediverse.signatures import (
    DEFAULT_ACCEPT,
    SignatureError,
    SignatureParams,
    body_digest,
    parse_signature_header,
    sign_request,
    signing_string,
    verify_digest,
    verify_request,
)

NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
KEY_ID = "https://local.example/users/alice#main-key"
INBOX_URL = "https://remote.example/users/bob/inbox"
INBOX_PATH = "/users/bob/inbox"
OUTBOX_URL = "https://remote.example/users/bob/outbox?page=true"
OUTBOX_PATH = "/users/bob/outbox?page=true"
BODY = b'{"type":"Follow","actor":"https://local.example/users/alice"}'
POST_REQUIRED = ("(request-target)", "host", "date", "digest")
GET_REQUIRED = ("(request-target)", "host", "date")
POST_SIGNED = ["(request-target)", "host", "date", "digest", "content-type"]
GET_SIGNED = ["(request-target)", "host", "date", "accept"]


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture(scope="module")
def private_pem(keypair: tuple[str, str]) -> str:
    return keypair[0]


@pytest.fixture(scope="module")
def public_pem(keypair: tuple[str, str]) -> str:
    return keypair[1]


@pytest.fixture(scope="module")
def other_public_pem() -> str:
    return generate_rsa_keypair()[1]


def _http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def _reference_digest(body: bytes) -> str:
    """Computed here rather than with body_digest so the tests do not trust our own helper."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def _httpsig_sign(
    private_pem: str,
    headers: dict[str, str],
    signed: list[str],
    *,
    method: str = "POST",
    path: str = INBOX_PATH,
    algorithm: str = "rsa-sha256",
) -> dict[str, str]:
    """Sign with the reference implementation and return plain headers including Signature."""
    signer = httpsig.HeaderSigner(
        KEY_ID, private_pem, algorithm=algorithm, headers=signed, sign_header="signature"
    )
    signed_headers = signer.sign(dict(headers), method=method, path=path)
    return dict(signed_headers.items())


def _post_headers(date: datetime = NOW, body: bytes = BODY) -> dict[str, str]:
    return {
        "Host": "remote.example",
        "Date": _http_date(date),
        "Digest": _reference_digest(body),
        "Content-Type": "application/activity+json",
    }


def _signature_value(headers: dict[str, str]) -> str:
    return next(value for name, value in headers.items() if name.lower() == "signature")


def _verify(
    headers: dict[str, str],
    public_pem: str,
    *,
    method: str = "POST",
    path: str = INBOX_PATH,
    body: bytes | None = BODY,
    required: tuple[str, ...] = POST_REQUIRED,
    now: datetime = NOW,
) -> None:
    params = parse_signature_header(_signature_value(headers))
    verify_request(method, path, headers, params, public_pem, body=body, required_headers=required, now=now)


@pytest.fixture(scope="module")
def signed_post(private_pem: str) -> dict[str, str]:
    return sign_request("POST", INBOX_URL, key_id=KEY_ID, private_key_pem=private_pem, body=BODY, now=NOW)


@pytest.fixture(scope="module")
def signed_get(private_pem: str) -> dict[str, str]:
    return sign_request("GET", OUTBOX_URL, key_id=KEY_ID, private_key_pem=private_pem, now=NOW)


# --------------------------------------------------------------------------- keys


def test_generated_keypair_is_rsa_2048_pkcs8_and_spki(keypair: tuple[str, str]) -> None:
    private, public = keypair
    assert private.startswith("-----BEGIN PRIVATE KEY-----")
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    key = load_private_key(private)
    assert key.key_size == 2048
    assert key.public_key().public_numbers().e == 65537


def test_loaded_keys_are_cached(keypair: tuple[str, str]) -> None:
    private, public = keypair
    assert load_public_key(public) is load_public_key(public)
    assert load_private_key(private) is load_private_key(private)


def test_bad_pem_gives_clear_error() -> None:
    with pytest.raises(KeyFormatError, match="not PEM encoded"):
        load_public_key("hello")
    with pytest.raises(KeyFormatError, match="Public key is not a valid PEM key"):
        load_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(KeyFormatError, match="empty"):
        load_private_key("")
    with pytest.raises(ValueError):  # KeyFormatError is a ValueError for callers that catch broadly
        load_public_key(42)  # type: ignore[arg-type]


def test_public_key_given_as_private_key_gives_clear_error(public_pem: str) -> None:
    with pytest.raises(KeyFormatError, match="Private key"):
        load_private_key(public_pem)


def test_non_rsa_key_is_rejected() -> None:
    ec_public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(KeyFormatError, match="must be RSA or Ed25519"):
        load_public_key(ec_public)


def test_ed25519_public_key_is_accepted() -> None:
    pem = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    assert isinstance(load_public_key(pem), ed25519.Ed25519PublicKey)


# --------------------------------------------------------------------------- interoperability


def test_our_post_signature_verifies_with_httpsig(signed_post: dict[str, str], public_pem: str) -> None:
    verifier = httpsig.HeaderVerifier(
        signed_post,
        public_pem,
        required_headers=POST_SIGNED,
        method="POST",
        path=INBOX_PATH,
        sign_header="signature",
    )
    assert verifier.verify() is True


def test_our_get_signature_verifies_with_httpsig(signed_get: dict[str, str], public_pem: str) -> None:
    verifier = httpsig.HeaderVerifier(
        signed_get,
        public_pem,
        required_headers=GET_SIGNED,
        method="GET",
        path=OUTBOX_PATH,
        sign_header="signature",
    )
    assert verifier.verify() is True


def test_httpsig_post_signature_verifies_with_ours(private_pem: str, public_pem: str) -> None:
    headers = _httpsig_sign(private_pem, _post_headers(), POST_SIGNED)
    _verify(headers, public_pem)


def test_httpsig_get_signature_verifies_with_ours(private_pem: str, public_pem: str) -> None:
    headers = {"Host": "remote.example", "Date": _http_date(NOW), "Accept": DEFAULT_ACCEPT}
    headers = _httpsig_sign(private_pem, headers, GET_SIGNED, method="GET", path=OUTBOX_PATH)
    _verify(headers, public_pem, method="GET", path=OUTBOX_PATH, body=None, required=GET_REQUIRED)


def test_our_signature_verifies_with_ours(signed_post: dict[str, str], public_pem: str) -> None:
    _verify(signed_post, public_pem)


def test_signing_string_is_byte_identical_to_httpsig(signed_post: dict[str, str]) -> None:
    ours = signing_string("POST", INBOX_PATH, signed_post, POST_SIGNED)
    reference = httpsig.utils.generate_message(POST_SIGNED, signed_post, method="POST", path=INBOX_PATH)
    assert ours.encode() == reference


def test_signing_string_format() -> None:
    headers = {"Host": "a.example", "Date": "Thu, 15 Jan 2026 12:00:00 GMT"}
    signed = ["(request-target)", "HOST", "date", "(created)"]
    assert signing_string("GET", "/x?y=1", headers, signed, created=7) == (
        "(request-target): get /x?y=1\nhost: a.example\ndate: Thu, 15 Jan 2026 12:00:00 GMT\n(created): 7"
    )


# --------------------------------------------------------------------------- sign_request output


def test_post_sign_request_sets_host_date_digest_and_content_type(signed_post: dict[str, str]) -> None:
    assert signed_post["Host"] == "remote.example"
    assert signed_post["Date"] == "Thu, 15 Jan 2026 12:00:00 GMT"
    assert signed_post["Digest"] == _reference_digest(BODY) == body_digest(BODY)
    assert signed_post["Content-Type"] == "application/activity+json"
    params = parse_signature_header(signed_post["Signature"])
    assert params.key_id == KEY_ID
    assert params.algorithm == "rsa-sha256"
    assert params.headers == tuple(POST_SIGNED)
    assert len(params.signature) == 256


def test_get_sign_request_sets_accept_and_signs_it(signed_get: dict[str, str]) -> None:
    assert signed_get["Accept"] == DEFAULT_ACCEPT
    assert "Digest" not in signed_get
    assert "Content-Type" not in signed_get
    assert parse_signature_header(signed_get["Signature"]).headers == tuple(GET_SIGNED)


def test_sign_request_keeps_caller_content_type_and_port(private_pem: str, public_pem: str) -> None:
    headers = sign_request(
        "POST",
        "https://remote.example:8443/inbox",
        key_id=KEY_ID,
        private_key_pem=private_pem,
        body=BODY,
        headers={"content-type": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'},
        now=NOW,
    )
    assert headers["Host"] == "remote.example:8443"
    assert headers["content-type"].startswith("application/ld+json")
    assert "Content-Type" not in headers
    _verify(headers, public_pem, path="/inbox")


def test_sign_request_treats_naive_now_as_utc(private_pem: str) -> None:
    headers = sign_request(
        "GET", OUTBOX_URL, key_id=KEY_ID, private_key_pem=private_pem, now=NOW.replace(tzinfo=None)
    )
    assert headers["Date"] == "Thu, 15 Jan 2026 12:00:00 GMT"


def test_sign_request_refuses_key_id_with_quote(private_pem: str) -> None:
    with pytest.raises(ValueError, match="key_id"):
        sign_request("GET", OUTBOX_URL, key_id='a"b', private_key_pem=private_pem)


# --------------------------------------------------------------------------- rejections


def test_tampered_body_is_rejected(signed_post: dict[str, str], public_pem: str) -> None:
    with pytest.raises(SignatureError, match="Digest does not match body"):
        _verify(signed_post, public_pem, body=BODY.replace(b"Follow", b"Delete"))


def test_tampered_digest_header_is_rejected(signed_post: dict[str, str], public_pem: str) -> None:
    forged_body = b'{"type":"Delete"}'
    headers = {**signed_post, "Digest": _reference_digest(forged_body)}
    with pytest.raises(SignatureError, match="Signature does not match"):
        _verify(headers, public_pem, body=forged_body)


def test_tampered_signature_is_rejected(signed_post: dict[str, str], public_pem: str) -> None:
    params = parse_signature_header(signed_post["Signature"])
    forged = SignatureParams(
        key_id=params.key_id,
        algorithm=params.algorithm,
        headers=params.headers,
        signature=bytes([params.signature[0] ^ 1]) + params.signature[1:],
        created=None,
        expires=None,
    )
    with pytest.raises(SignatureError, match="Signature does not match"):
        verify_request(
            "POST",
            INBOX_PATH,
            signed_post,
            forged,
            public_pem,
            body=BODY,
            required_headers=POST_REQUIRED,
            now=NOW,
        )


def test_signature_by_another_key_is_rejected(signed_post: dict[str, str], other_public_pem: str) -> None:
    with pytest.raises(SignatureError, match="Signature does not match"):
        _verify(signed_post, other_public_pem)


def test_date_two_hours_ahead_is_rejected(private_pem: str, public_pem: str) -> None:
    headers = _httpsig_sign(private_pem, _post_headers(NOW + timedelta(hours=2)), POST_SIGNED)
    with pytest.raises(SignatureError, match="Date is too far in the future"):
        _verify(headers, public_pem)


def test_date_two_days_old_is_rejected(private_pem: str, public_pem: str) -> None:
    headers = _httpsig_sign(private_pem, _post_headers(NOW - timedelta(days=2)), POST_SIGNED)
    with pytest.raises(SignatureError, match="Date is too old"):
        _verify(headers, public_pem)


def test_date_within_clock_skew_and_max_age_is_accepted(private_pem: str, public_pem: str) -> None:
    for offset in (timedelta(minutes=50), timedelta(hours=-11)):
        headers = _httpsig_sign(private_pem, _post_headers(NOW + offset), POST_SIGNED)
        _verify(headers, public_pem)


def test_unparsable_date_is_rejected(private_pem: str, public_pem: str) -> None:
    headers = _httpsig_sign(private_pem, {**_post_headers(), "Date": "yesterday at noon"}, POST_SIGNED)
    with pytest.raises(SignatureError, match="Date header is not a valid HTTP date"):
        _verify(headers, public_pem)


def test_post_signing_only_date_is_rejected_when_digest_required(private_pem: str, public_pem: str) -> None:
    headers = _httpsig_sign(private_pem, _post_headers(), ["date"])
    with pytest.raises(SignatureError, match="Signature does not cover"):
        _verify(headers, public_pem)


def test_post_not_signing_digest_is_rejected(private_pem: str, public_pem: str) -> None:
    headers = _httpsig_sign(private_pem, _post_headers(), ["(request-target)", "host", "date"])
    with pytest.raises(SignatureError, match="Signature does not cover digest"):
        _verify(headers, public_pem)
    # Even when the caller forgot to require it, a body is only trusted through a signed digest.
    with pytest.raises(SignatureError, match="Signature does not cover digest"):
        _verify(headers, public_pem, required=("(request-target)", "host", "date"))


def test_signature_replayed_to_other_path_is_rejected(signed_post: dict[str, str], public_pem: str) -> None:
    with pytest.raises(SignatureError, match="Signature does not match"):
        _verify(signed_post, public_pem, path="/users/carol/inbox")


def test_signature_replayed_with_other_query_is_rejected(signed_get: dict[str, str], public_pem: str) -> None:
    with pytest.raises(SignatureError, match="Signature does not match"):
        _verify(
            signed_get,
            public_pem,
            method="GET",
            path="/users/bob/outbox?page=2",
            body=None,
            required=GET_REQUIRED,
        )


def test_other_host_is_rejected(signed_post: dict[str, str], public_pem: str) -> None:
    with pytest.raises(SignatureError, match="Signature does not match"):
        _verify({**signed_post, "Host": "victim.example"}, public_pem)


def test_other_method_is_rejected(signed_post: dict[str, str], public_pem: str) -> None:
    with pytest.raises(SignatureError, match="Signature does not match"):
        _verify(signed_post, public_pem, method="PUT")


def test_missing_digest_rejected(signed_post: dict[str, str], public_pem: str) -> None:
    headers = {name: value for name, value in signed_post.items() if name != "Digest"}
    with pytest.raises(SignatureError, match="Missing Digest header"):
        _verify(headers, public_pem)
    with pytest.raises(SignatureError, match="Missing Digest header"):
        verify_digest(None, BODY)


def test_signed_header_missing_from_request_is_rejected(signed_get: dict[str, str], public_pem: str) -> None:
    headers = {name: value for name, value in signed_get.items() if name != "Accept"}
    with pytest.raises(SignatureError, match="Signed header accept is missing"):
        _verify(headers, public_pem, method="GET", path=OUTBOX_PATH, body=None, required=GET_REQUIRED)


def test_wrong_digest_algorithm_rejected(private_pem: str, public_pem: str) -> None:
    sha1 = "SHA=" + base64.b64encode(hashlib.sha1(BODY).digest()).decode()
    headers = _httpsig_sign(private_pem, {**_post_headers(), "Digest": sha1}, POST_SIGNED)
    with pytest.raises(SignatureError, match="no SHA-256 or SHA-512"):
        _verify(headers, public_pem)
    with pytest.raises(SignatureError, match="no SHA-256 or SHA-512"):
        verify_digest("MD5=" + base64.b64encode(hashlib.md5(BODY).digest()).decode(), BODY)


def test_duplicated_conflicting_digest_rejected() -> None:
    good = _reference_digest(BODY)
    bad = _reference_digest(b"something else")
    with pytest.raises(SignatureError, match="conflicting SHA-256"):
        verify_digest(f"{good},{bad}", BODY)
    with pytest.raises(SignatureError, match="conflicting SHA-256"):
        verify_digest(f"{bad}, {good}", BODY)


def test_duplicated_identical_digest_accepted() -> None:
    good = _reference_digest(BODY)
    verify_digest(f"{good}, {good}", BODY)


def test_multi_digest_with_sha512_and_unknown_algorithms_accepted() -> None:
    sha512 = "sha-512=" + base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    verify_digest(f"UNIXsum=30637, {sha512}", BODY)
    verify_digest(f"{_reference_digest(BODY)},{sha512}", BODY)


def test_digest_algorithm_name_is_case_insensitive() -> None:
    verify_digest(_reference_digest(BODY).replace("SHA-256", "sha-256"), BODY)


def test_any_mismatching_digest_entry_is_rejected() -> None:
    wrong512 = "SHA-512=" + base64.b64encode(hashlib.sha512(b"x").digest()).decode()
    with pytest.raises(SignatureError, match="Digest does not match body"):
        verify_digest(f"{_reference_digest(BODY)}, {wrong512}", BODY)


def test_digest_with_bad_base64_rejected() -> None:
    with pytest.raises(SignatureError, match="not valid base64"):
        verify_digest("SHA-256=!!!notbase64", BODY)


def test_rsa_sha1_algorithm_is_rejected(private_pem: str, public_pem: str) -> None:
    headers = _httpsig_sign(private_pem, _post_headers(), POST_SIGNED, algorithm="rsa-sha1")
    with pytest.raises(SignatureError, match="Unsupported signature algorithm 'rsa-sha1'"):
        _verify(headers, public_pem)


def test_hmac_algorithm_is_rejected(public_pem: str) -> None:
    signer = httpsig.HeaderSigner(
        KEY_ID, "shared-secret", algorithm="hmac-sha256", headers=POST_SIGNED, sign_header="signature"
    )
    headers = dict(signer.sign(_post_headers(), method="POST", path=INBOX_PATH).items())
    with pytest.raises(SignatureError, match="Unsupported signature algorithm 'hmac-sha256'"):
        _verify(headers, public_pem)


def test_bad_public_key_pem_in_verify_gives_signature_error(signed_post: dict[str, str]) -> None:
    with pytest.raises(SignatureError, match="Unusable public key for https://local.example"):
        _verify(signed_post, "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----")


def test_signature_error_str_is_the_human_reason() -> None:
    error = SignatureError("Date is too old")
    assert str(error) == "Date is too old"
    assert error.reason == "Date is too old"


# --------------------------------------------------------------------------- hs2019 / (created)


def _sign_hs2019(
    private_pem: str,
    headers: dict[str, str],
    signed: list[str],
    *,
    created: int,
    expires: int | None = None,
    path: str = INBOX_PATH,
) -> dict[str, str]:
    """hs2019 signer written out by hand (httpsig 1.3 predates hs2019)."""
    text = signing_string("POST", path, headers, signed, created=created, expires=expires)
    raw = load_private_key(private_pem).sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    value = (
        f'keyId="{KEY_ID}",algorithm="hs2019",created={created},'
        + (f"expires={expires}," if expires is not None else "")
        + f'headers="{" ".join(signed)}",signature="{base64.b64encode(raw).decode()}"'
    )
    return {**headers, "Signature": value}


HS2019_SIGNED = ["(request-target)", "(created)", "host", "digest"]


def test_hs2019_with_created_verifies(private_pem: str, public_pem: str) -> None:
    created = int(NOW.timestamp()) - 30
    headers = _post_headers()
    del headers["Date"]
    headers = _sign_hs2019(private_pem, headers, HS2019_SIGNED, created=created, expires=created + 300)
    params = parse_signature_header(headers["Signature"])
    assert (params.algorithm, params.created, params.expires) == ("hs2019", created, created + 300)
    # A required `date` is satisfied by a signed (created).
    _verify(headers, public_pem)


def test_hs2019_created_in_the_future_is_rejected(private_pem: str, public_pem: str) -> None:
    headers = _sign_hs2019(private_pem, _post_headers(), HS2019_SIGNED, created=int(NOW.timestamp()) + 7200)
    with pytest.raises(SignatureError, match="created time is in the future"):
        _verify(headers, public_pem)


def test_hs2019_expired_signature_is_rejected(private_pem: str, public_pem: str) -> None:
    created = int(NOW.timestamp()) - 600
    headers = _sign_hs2019(private_pem, _post_headers(), HS2019_SIGNED, created=created, expires=created + 60)
    with pytest.raises(SignatureError, match="Signature has expired"):
        _verify(headers, public_pem)


def test_hs2019_tampered_created_is_rejected(private_pem: str, public_pem: str) -> None:
    created = int(NOW.timestamp())
    headers = _sign_hs2019(private_pem, _post_headers(), HS2019_SIGNED, created=created)
    headers["Signature"] = headers["Signature"].replace(f"created={created}", f"created={created - 1}")
    with pytest.raises(SignatureError, match="Signature does not match"):
        _verify(headers, public_pem)


def test_created_pseudo_header_with_rsa_sha256_is_rejected(private_pem: str, public_pem: str) -> None:
    headers = _sign_hs2019(private_pem, _post_headers(), HS2019_SIGNED, created=int(NOW.timestamp()))
    headers["Signature"] = headers["Signature"].replace('algorithm="hs2019"', 'algorithm="rsa-sha256"')
    with pytest.raises(SignatureError, match="only allowed with hs2019"):
        _verify(headers, public_pem)


def test_hs2019_with_ed25519_key_verifies() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    created = int(NOW.timestamp())
    headers = _post_headers()
    text = signing_string("POST", INBOX_PATH, headers, HS2019_SIGNED, created=created)
    signature = base64.b64encode(private.sign(text.encode())).decode()
    headers["Signature"] = (
        f'keyId="{KEY_ID}",algorithm="hs2019",created={created},'
        f'headers="{" ".join(HS2019_SIGNED)}",signature="{signature}"'
    )
    _verify(headers, public_pem)
    headers["Signature"] = headers["Signature"].replace("hs2019", "rsa-sha256").replace("(created) ", "")
    with pytest.raises(SignatureError):
        _verify(headers, public_pem)


# --------------------------------------------------------------------------- header lookup


def test_header_lookup_is_case_insensitive(signed_post: dict[str, str], public_pem: str) -> None:
    shouted = {name.upper(): value for name, value in signed_post.items()}
    _verify(shouted, public_pem)
    lowered = {name.lower(): value for name, value in signed_post.items()}
    _verify(lowered, public_pem)


def test_starlette_headers_are_accepted(signed_post: dict[str, str], public_pem: str) -> None:
    starlette_datastructures = pytest.importorskip("starlette.datastructures")
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in signed_post.items()]
    _verify(starlette_datastructures.Headers(raw=raw), public_pem)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- header parsing


def test_header_parsing_with_commas_in_keyid() -> None:
    params = parse_signature_header(
        'keyId="https://a.example/users/x,y#main-key",algorithm="rsa-sha256",'
        'headers="(request-target) host date",signature="YWJj"'
    )
    assert params.key_id == "https://a.example/users/x,y#main-key"
    assert params.headers == ("(request-target)", "host", "date")
    assert params.signature == b"abc"
    assert params.created is None and params.expires is None


def test_header_parsing_tolerates_spaces_and_param_order() -> None:
    params = parse_signature_header(
        ' signature="YWJj" , headers="Date Host",  keyId="k", algorithm="RSA-SHA256", created=1700000000 '
    )
    assert params == SignatureParams("k", "rsa-sha256", ("date", "host"), b"abc", 1700000000, None)


def test_header_parsing_accepts_quoted_and_unquoted_timestamps() -> None:
    params = parse_signature_header('keyId="k",signature="YWJj",created="1700000000",expires=1700000300')
    assert (params.created, params.expires) == (1700000000, 1700000300)


def test_header_parsing_defaults_headers_to_date_and_algorithm_to_hs2019() -> None:
    params = parse_signature_header('keyId="k",signature="YWJj"')
    assert params.headers == ("date",)
    assert params.algorithm == "hs2019"


def test_header_parsing_accepts_authorization_scheme_prefix() -> None:
    params = parse_signature_header('Signature keyId="k",signature="YWJj"')
    assert params.key_id == "k"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "Missing Signature header"),
        ('algorithm="rsa-sha256",signature="YWJj"', "no keyId"),
        ('keyId="k",algorithm="rsa-sha256"', "no signature"),
        ('keyId="k",signature="not base64!"', "not valid base64"),
        ('keyId="k",signature="YWJ"', "not valid base64"),
        ('keyId="k",keyId="other",signature="YWJj"', "Duplicated Signature parameter keyId"),
        ('keyId="k",KEYID="other",signature="YWJj"', "Duplicated Signature parameter"),
        ('keyId="k",signature="YWJj",created=soon', "created must be an integer"),
        ('keyId="k",signature="YWJj",expires=-5', "expires must be an integer"),
        ('keyId="k",signature="YWJj",headers=""', "headers parameter is empty"),
        ('keyId="k",signature="YWJj",headers="date date"', "lists a header twice"),
        ('keyId="k",signature="YWJj",headers="da:te"', "invalid name"),
        ('keyId="k" signature="YWJj"', "Malformed Signature header"),
        ('keyId="k,signature="YWJj"', "Malformed Signature header"),
        ('keyId="k",signature="YWJj",', "trailing comma"),
        ("keyId=" + '"' + "k" * 3000 + '",signature="YWJj"', "keyId is too long"),
        ('keyId="k",signature="' + "A" * 2000 + '"', "Signature value is too long"),
        ('keyId="k",signature="YWJj",headers="' + " ".join(f"h{i}" for i in range(40)) + '"', "too many"),
        ("x" * 10000, "too long"),
    ],
)
def test_malformed_signature_header_is_rejected(value: str, reason: str) -> None:
    with pytest.raises(SignatureError, match=reason):
        parse_signature_header(value)
