"""Throughput of HTTP Signature signing and verification: ours (cryptography) against httpsig.

Run from anywhere with `python bench/signatures.py [N]`. Prints operations per second; asserts
nothing. "warm" is the inbox steady state (the sender's PEM is already parsed and cached);
"cold" clears the key cache before every request to show what the cache saves. Our verification
also checks the Digest against the body (one SHA-256), which httpsig does not do.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpsig  # noqa: E402

from fediverse.keys import generate_rsa_keypair, load_private_key, load_public_key  # noqa: E402
from fediverse.signatures import parse_signature_header, sign_request, verify_request  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
KEY_ID = "https://bench.example/users/alice#main-key"
INBOX_URL = "https://remote.example/users/bob/inbox"
INBOX_PATH = "/users/bob/inbox"
REQUIRED = ("(request-target)", "host", "date", "digest")
SIGNED = ["(request-target)", "host", "date", "digest", "content-type"]


def _rate(label: str, count: int, action: Callable[[int], None]) -> None:
    start = time.perf_counter()
    for index in range(count):
        action(index)
    elapsed = time.perf_counter() - start
    print(f"{label:<42} {count / elapsed:>10,.0f} /s   ({elapsed * 1e6 / count:,.1f} µs each)")


def main() -> None:
    private_pem, public_pem = generate_rsa_keypair()
    bodies = [
        b'{"type":"Create","id":"https://bench.example/activities/%d","object":{"content":"hello"}}' % i
        for i in range(N)
    ]
    requests: list[dict[str, str]] = [{} for _ in range(N)]

    def sign(index: int) -> None:
        requests[index] = sign_request(
            "POST", INBOX_URL, key_id=KEY_ID, private_key_pem=private_pem, body=bodies[index]
        )

    def verify_ours(index: int) -> None:
        headers = requests[index]
        params = parse_signature_header(headers["Signature"])
        verify_request(
            "POST", INBOX_PATH, headers, params, public_pem, body=bodies[index], required_headers=REQUIRED
        )

    def verify_ours_cold(index: int) -> None:
        load_public_key.cache_clear()
        verify_ours(index)

    def verify_httpsig(index: int) -> None:
        verifier = httpsig.HeaderVerifier(
            requests[index],
            public_pem,
            required_headers=SIGNED,
            method="POST",
            path=INBOX_PATH,
            sign_header="signature",
        )
        if not verifier.verify():
            raise RuntimeError("httpsig rejected a request we signed")

    def sign_httpsig(index: int) -> None:
        signer = httpsig.HeaderSigner(
            KEY_ID, private_pem, algorithm="rsa-sha256", headers=SIGNED, sign_header="signature"
        )
        signer.sign(requests[index], method="POST", path=INBOX_PATH)

    print(f"N = {N} POST requests, RSA-2048, rsa-sha256, Python {sys.version.split()[0]}")
    load_private_key(private_pem)  # signing with a cached key, as the delivery worker does
    _rate("sign: ours (sign_request, cached key)", N, sign)
    # httpsig re-parses (and consistency-checks) the private key per signer: ~30 ms, so sample fewer.
    _rate("sign: httpsig (HeaderSigner per request)", min(N, 200), sign_httpsig)
    load_public_key(public_pem)
    _rate("verify: ours (warm key cache)", N, verify_ours)
    _rate("verify: ours (cold, PEM parsed every time)", N, verify_ours_cold)
    _rate("verify: httpsig (HeaderVerifier per request)", N, verify_httpsig)


if __name__ == "__main__":
    main()
