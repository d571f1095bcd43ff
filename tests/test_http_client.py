"""The outbound HTTP client against a real TLS server on loopback (trustme CA) and a fake DNS.

Nothing here leaves 127.0.0.0/8: refused addresses are refused before any connection is made,
and names other than localhost are answered by `FakeResolver`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fediverse.config import Settings
from fediverse.http import (
    AS_ACCEPT,
    FetchError,
    HttpClient,
    is_permanent_status,
    is_private_address,
    json_too_deep,
    normalise_host,
    parse_retry_after,
)

ACTOR = {"@context": "https://www.w3.org/ns/activitystreams", "id": "https://x.test/u/a", "type": "Person"}
AP_TYPE = "application/activity+json"


# ---------------------------------------------------------------------------- fake DNS


class FakeResolver(AbstractResolver):
    """Answers from a fixed table, like a hostile or split-horizon DNS server would."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.table:
            raise OSError(f"fake DNS: no such host {host}")
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in self.table[host]
        ]

    async def close(self) -> None:
        return None


FAKE_DNS = {
    "localhost": ["127.0.0.1", "::1"],
    "trusted.test": ["127.0.0.1"],  # allow-listed by name in some tests
    "evil.test": ["127.0.0.1"],  # a public-looking name pointing at loopback
    "internal.test": ["192.168.1.20"],
    "mixed.test": ["93.184.216.34", "10.1.2.3"],
}


# ---------------------------------------------------------------------------- test server


@dataclass
class Server:
    https_port: int
    http_port: int
    ca: trustme.CA
    requests: list[dict[str, Any]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.https_port}{path}"

    def http_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def client_ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


def _record(server: Server, request: web.Request, body: bytes = b"") -> None:
    server.requests.append(
        {"method": request.method, "path": request.path_qs, "headers": dict(request.headers), "body": body}
    )


def make_app(server: Server) -> web.Application:
    async def actor(request: web.Request) -> web.Response:
        _record(server, request)
        return web.json_response(ACTOR, content_type=AP_TYPE)

    async def ld_json(request: web.Request) -> web.Response:
        return web.Response(
            body=json.dumps(ACTOR).encode(),
            headers={"Content-Type": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'},
        )

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def chain(request: web.Request) -> web.Response:
        hops = int(request.match_info["n"])
        if hops == 0:
            return web.json_response(ACTOR, content_type=AP_TYPE)
        raise web.HTTPMovedPermanently(f"/chain/{hops - 1}")

    async def big_declared(request: web.Request) -> web.Response:
        return web.Response(body=b"{" + b" " * 3_000_000 + b"}", content_type="application/json")

    async def big_streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"padding": "')
        try:
            for _ in range(400):  # 400 x 64 KiB = 25 MiB if nobody stops reading
                await response.write(b"a" * 65536)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            return response
        await response.write(b'"}')
        return response

    async def html_page(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>not json</body></html>", content_type="text/html")

    async def no_content_type(request: web.Request) -> web.Response:
        return web.Response(body=json.dumps(ACTOR).encode())

    async def status(request: web.Request) -> web.Response:
        headers = {}
        if "retry_after" in request.query:
            headers["Retry-After"] = request.query["retry_after"]
        return web.Response(status=int(request.match_info["code"]), text="nope", headers=headers)

    async def deep(request: web.Request) -> web.Response:
        depth = int(request.query.get("depth", "150"))
        body = '{"a":' * depth + "1" + "}" * depth
        return web.Response(text=body, content_type="application/json")

    async def array(request: web.Request) -> web.Response:
        return web.Response(text="[1, 2, 3]", content_type="application/json")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(text='{"id": ', content_type="application/json")

    async def slow(request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.stopping.wait(), 5)  # released at teardown
        return web.json_response(ACTOR, content_type=AP_TYPE)

    async def host_meta(request: web.Request) -> web.Response:
        return web.Response(text="<XRD><Link rel='lrdd'/></XRD>", content_type="application/xrd+xml")

    async def inbox(request: web.Request) -> web.Response:
        body = await request.read()
        _record(server, request, body)
        code = int(request.query.get("status", "202"))
        headers = {"Retry-After": request.query["retry_after"]} if "retry_after" in request.query else {}
        if 300 <= code < 400:
            headers["Location"] = "/inbox"
        return web.Response(status=code, text="x" * int(request.query.get("size", "0")), headers=headers)

    app = web.Application()
    app.router.add_get("/actor", actor)
    app.router.add_get("/ld", ld_json)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/chain/{n}", chain)
    app.router.add_get("/big-declared", big_declared)
    app.router.add_get("/big-streamed", big_streamed)
    app.router.add_get("/html", html_page)
    app.router.add_get("/no-content-type", no_content_type)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/deep", deep)
    app.router.add_get("/array", array)
    app.router.add_get("/broken", broken)
    app.router.add_get("/slow", slow)
    app.router.add_get("/.well-known/host-meta", host_meta)
    app.router.add_post("/inbox", inbox)
    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[Server]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1", "trusted.test", "evil.test")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    srv = Server(https_port=_free_port(), http_port=_free_port(), ca=ca)
    runner = web.AppRunner(make_app(srv), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", srv.https_port, ssl_context=server_context).start()
    await web.TCPSite(runner, "127.0.0.1", srv.http_port).start()
    yield srv
    srv.stopping.set()
    await runner.cleanup()


_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_KEY_PEM = (
    _KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    return _KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def assert_signature_valid(seen: dict[str, Any], required: list[str], body: bytes | None = None) -> None:
    """What reached the server verifies: the headers we sent are exactly the ones we signed."""
    from fediverse.signatures import parse_signature_header, verify_request

    params = parse_signature_header(seen["headers"]["Signature"])
    verify_request(
        seen["method"],
        seen["path"],
        seen["headers"],
        params,
        PUBLIC_KEY_PEM,
        body=body,
        required_headers=required,
    )


def make_client(server: Server, allowed: list[str], **overrides: Any) -> HttpClient:
    settings = Settings(allowed_private_hosts=allowed, **{"http_timeout_seconds": 5.0, **overrides})
    return HttpClient(
        settings, "fediverse-test/1.0", ssl_context=server.client_ssl(), resolver=FakeResolver(FAKE_DNS)
    )


@pytest.fixture
async def client(server: Server) -> AsyncIterator[HttpClient]:
    """Loopback allowed (by address), as a test deployment would configure it."""
    async with make_client(server, ["localhost", "127.0.0.1"]) as http:
        yield http


@pytest.fixture
async def strict_client(server: Server) -> AsyncIterator[HttpClient]:
    """Production policy: no private address allowed at all."""
    async with make_client(server, []) as http:
        yield http


@pytest.fixture
async def named_client(server: Server) -> AsyncIterator[HttpClient]:
    """Only the host *name* trusted.test may resolve to a private address."""
    async with make_client(server, ["trusted.test"]) as http:
        yield http


# ---------------------------------------------------------------------------- get_json


async def test_get_json_fetches_activity_json(client: HttpClient, server: Server) -> None:
    assert await client.get_json(server.url("/actor")) == ACTOR
    seen = server.requests[-1]
    assert seen["headers"]["Accept"] == AS_ACCEPT
    assert seen["headers"]["User-Agent"] == "fediverse-test/1.0"
    assert "Signature" not in seen["headers"]


async def test_get_json_accepts_ld_json_with_profile(client: HttpClient, server: Server) -> None:
    assert await client.get_json(server.url("/ld")) == ACTOR


async def test_signed_get_carries_signature(client: HttpClient, server: Server, private_key_pem: str) -> None:
    key_id = "https://commune-a.test/actor#main-key"
    await client.get_json(server.url("/actor"), signer=(key_id, private_key_pem))
    headers = server.requests[-1]["headers"]
    assert f'keyId="{key_id}"' in headers["Signature"]
    assert headers["Host"] == f"127.0.0.1:{server.https_port}"
    assert "Date" in headers
    assert_signature_valid(server.requests[-1], ["(request-target)", "host", "date"])


async def test_named_allowlist_entry_allows_that_name_only(named_client: HttpClient, server: Server) -> None:
    assert await named_client.get_json(server.url("/actor", host="trusted.test")) == ACTOR
    with pytest.raises(FetchError, match="refusing to connect to private address 127.0.0.1"):
        await named_client.get_json(server.url("/actor", host="evil.test"))


async def test_http_refused_unless_insecure_http(server: Server) -> None:
    async with make_client(server, ["127.0.0.1"]) as secure:
        with pytest.raises(FetchError, match="scheme 'http' not allowed") as info:
            await secure.get_json(server.http_url("/actor"))
        assert info.value.permanent
    async with make_client(server, ["127.0.0.1"], insecure_http=True) as insecure:
        assert await insecure.get_json(server.http_url("/actor")) == ACTOR


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/actor",
        "https://localhost/actor",
        "https://[::1]/actor",
        "https://[::ffff:127.0.0.1]/actor",
        "https://[::ffff:a00:1]/actor",
        "https://10.0.0.1/actor",
        "https://169.254.169.254/latest/meta-data/",
        "https://192.168.0.1/",
        "https://[fe80::1]/",
        "https://[fc00::1]/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://[64:ff9b::7f00:1]/",
        "https://evil.test/actor",
        "https://internal.test/actor",
        "https://mixed.test/actor",
    ],
)
async def test_private_addresses_refused(strict_client: HttpClient, url: str) -> None:
    with pytest.raises(FetchError, match="refusing to connect to private address") as info:
        await strict_client.get_json(url)
    assert info.value.permanent
    assert info.value.status is None
    assert info.value.url.startswith("https://")


async def test_localhost_refused_with_system_resolver(server: Server) -> None:
    settings = Settings(allowed_private_hosts=[], http_timeout_seconds=5.0)
    async with HttpClient(settings, "t/1", ssl_context=server.client_ssl()) as http:
        with pytest.raises(FetchError, match="refusing to connect to private address") as info:
            await http.get_json(server.url("/actor", host="localhost"))
    assert info.value.permanent


async def test_loopback_with_port_refused_when_not_allowed(strict_client: HttpClient, server: Server) -> None:
    before = len(server.requests)
    for host in ("127.0.0.1", "localhost", "evil.test"):
        with pytest.raises(FetchError, match="refusing to connect to private address"):
            await strict_client.get_json(server.url("/actor", host=host))
    assert len(server.requests) == before  # nothing ever reached the server


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "scheme 'ftp' not allowed"),
        ("file:///etc/passwd", "scheme 'file' not allowed"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
        ("https://127.1/", "not a canonical IP address"),
        ("https://2130706433/", "not a canonical IP address"),
        ("https://0x7f.0.0.1/", "not a canonical IP address"),
        ("https://exa mple.com/", "whitespace"),
        ("/relative/path", "not allowed"),
    ],
)
async def test_bad_urls_refused(strict_client: HttpClient, url: str, message: str) -> None:
    with pytest.raises(FetchError, match=message) as info:
        await strict_client.get_json(url)
    assert info.value.permanent


async def test_redirects_followed_within_limit(client: HttpClient, server: Server) -> None:
    assert await client.get_json(server.url("/chain/3")) == ACTOR
    with pytest.raises(FetchError, match="more than 3 redirects") as info:
        await client.get_json(server.url("/chain/4"))
    assert info.value.permanent


async def test_redirect_to_private_literal_refused(client: HttpClient, server: Server) -> None:
    with pytest.raises(FetchError, match="refusing to connect to private address 10.0.0.1") as info:
        await client.get_json(server.url("/redirect?to=https://10.0.0.1/actor"))
    assert info.value.permanent


async def test_redirect_to_name_resolving_private_refused(named_client: HttpClient, server: Server) -> None:
    target = server.url("/actor", host="evil.test")
    with pytest.raises(FetchError, match="refusing to connect to private address 127.0.0.1"):
        await named_client.get_json(server.url(f"/redirect?to={target}", host="trusted.test"))


async def test_redirect_to_http_refused(client: HttpClient, server: Server) -> None:
    with pytest.raises(FetchError, match="scheme 'http' not allowed"):
        await client.get_json(server.url(f"/redirect?to={server.http_url('/actor')}"))


async def test_body_over_declared_limit_aborted(client: HttpClient, server: Server) -> None:
    with pytest.raises(FetchError, match="exceeds the 2000000 byte limit") as info:
        await client.get_json(server.url("/big-declared"))
    assert info.value.permanent


async def test_streamed_body_over_limit_aborted(client: HttpClient, server: Server) -> None:
    with pytest.raises(FetchError, match="exceeds the 100000 byte limit") as info:
        await client.get_json(server.url("/big-streamed"), max_bytes=100_000)
    assert info.value.permanent
    assert await client.get_json(server.url("/actor")) == ACTOR  # the client is still usable


@pytest.mark.parametrize("path", ["/html", "/no-content-type"])
async def test_non_json_content_type_refused(client: HttpClient, server: Server, path: str) -> None:
    with pytest.raises(FetchError, match="unexpected content type") as info:
        await client.get_json(server.url(path))
    assert info.value.permanent


@pytest.mark.parametrize(
    ("path", "message"), [("/array", "expected a JSON object"), ("/broken", "invalid JSON")]
)
async def test_bad_json_refused(client: HttpClient, server: Server, path: str, message: str) -> None:
    with pytest.raises(FetchError, match=message) as info:
        await client.get_json(server.url(path))
    assert info.value.permanent


@pytest.mark.parametrize("depth", [101, 150, 100_000])
async def test_deeply_nested_json_refused(client: HttpClient, server: Server, depth: int) -> None:
    with pytest.raises(FetchError, match="nested deeper than 100") as info:
        await client.get_json(server.url(f"/deep?depth={depth}"))
    assert info.value.permanent


async def test_nesting_at_limit_accepted(client: HttpClient, server: Server) -> None:
    document = await client.get_json(server.url("/deep?depth=100"))
    assert "a" in document


@pytest.mark.parametrize(
    ("code", "permanent"),
    [(400, True), (401, True), (403, True), (404, True), (410, True), (408, False), (429, False),
     (500, False), (502, False), (503, False)],
)  # fmt: skip
async def test_status_permanence(client: HttpClient, server: Server, code: int, permanent: bool) -> None:
    with pytest.raises(FetchError) as info:
        await client.get_json(server.url(f"/status/{code}"))
    assert info.value.status == code
    assert info.value.permanent is permanent
    assert f"HTTP {code}" in str(info.value)


async def test_gone_is_permanent(client: HttpClient, server: Server) -> None:
    with pytest.raises(FetchError, match="HTTP 410 gone") as info:
        await client.get_json(server.url("/status/410"))
    assert (info.value.status, info.value.permanent) == (410, True)


async def test_503_retry_after_seconds(client: HttpClient, server: Server) -> None:
    with pytest.raises(FetchError) as info:
        await client.get_json(server.url("/status/503?retry_after=120"))
    assert (info.value.status, info.value.permanent, info.value.retry_after) == (503, False, 120.0)


async def test_429_retry_after_http_date(client: HttpClient, server: Server) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)
    with pytest.raises(FetchError) as info:
        await client.get_json(server.url(f"/status/429?retry_after={quote(when)}"))
    assert info.value.status == 429 and not info.value.permanent
    assert info.value.retry_after is not None and 290 <= info.value.retry_after <= 300


async def test_timeout_is_temporary(server: Server) -> None:
    async with make_client(server, ["127.0.0.1"], http_timeout_seconds=0.3) as http:
        with pytest.raises(FetchError, match="timed out") as info:
            await http.get_json(server.url("/slow"))
    assert not info.value.permanent


async def test_connection_refused_is_temporary(client: HttpClient) -> None:
    with pytest.raises(FetchError, match="connection failed") as info:
        await client.get_json(f"https://127.0.0.1:{_free_port()}/actor")
    assert not info.value.permanent


async def test_untrusted_certificate_refused(server: Server) -> None:
    settings = Settings(allowed_private_hosts=["127.0.0.1"], http_timeout_seconds=5.0)
    async with HttpClient(settings, "t/1") as http:  # system trust store: the test CA is unknown
        with pytest.raises(FetchError, match="connection failed"):
            await http.get_json(server.url("/actor"))


async def test_get_text(client: HttpClient, server: Server) -> None:
    text = await client.get_text(server.url("/.well-known/host-meta"))
    assert "<XRD>" in text
    with pytest.raises(FetchError, match="refusing"):
        await client.get_text("https://10.0.0.1/.well-known/host-meta")


# ---------------------------------------------------------------------------- post_signed


async def test_post_signed_delivers(client: HttpClient, server: Server, private_key_pem: str) -> None:
    body = json.dumps({"type": "Follow"}).encode()
    status = await client.post_signed(
        server.url("/inbox"), body, key_id="https://a.test/actor#main-key", private_key_pem=private_key_pem
    )
    assert status == 202
    seen = server.requests[-1]
    assert seen["body"] == body
    assert seen["headers"]["Content-Type"] == "application/activity+json"
    assert seen["headers"]["Digest"].startswith("SHA-256=")
    assert 'keyId="https://a.test/actor#main-key"' in seen["headers"]["Signature"]
    assert_signature_valid(seen, ["(request-target)", "host", "date", "digest"], body=body)


@pytest.mark.parametrize(
    ("code", "permanent", "retry_after"),
    [(404, True, None), (410, True, None), (401, True, None), (429, False, 30.0), (503, False, 120.0),
     (500, False, None), (302, False, None)],
)  # fmt: skip
async def test_post_signed_errors(
    client: HttpClient,
    server: Server,
    private_key_pem: str,
    code: int,
    permanent: bool,
    retry_after: float | None,
) -> None:
    query = f"?status={code}" + (f"&retry_after={int(retry_after)}" if retry_after else "")
    with pytest.raises(FetchError) as info:
        await client.post_signed(
            server.url("/inbox" + query), b"{}", key_id="k", private_key_pem=private_key_pem
        )
    assert (info.value.status, info.value.permanent, info.value.retry_after) == (code, permanent, retry_after)


async def test_post_signed_large_error_body(client: HttpClient, server: Server, private_key_pem: str) -> None:
    with pytest.raises(FetchError) as info:
        await client.post_signed(
            server.url("/inbox?status=500&size=1000000"), b"{}", key_id="k", private_key_pem=private_key_pem
        )
    assert info.value.status == 500
    assert len(str(info.value)) < 400


async def test_post_signed_refuses_private(strict_client: HttpClient, private_key_pem: str) -> None:
    with pytest.raises(FetchError, match="refusing to connect to private address") as info:
        await strict_client.post_signed(
            "https://evil.test/inbox", b"{}", key_id="k", private_key_pem=private_key_pem
        )
    assert info.value.permanent


# ---------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("straße.de", "xn--strae-oqa.de"),
        ("XN--STRAE-OQA.DE", "xn--strae-oqa.de"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("[::FFFF:127.0.0.1]", "::ffff:7f00:1"),
        ("127.0.0.1", "127.0.0.1"),
    ],
)
def test_normalise_host(host: str, expected: str) -> None:
    assert normalise_host(host) == expected


@pytest.mark.parametrize(
    "host", ["", ".", "a..b", "exa mple.com", "127.1", "0x7f000001", "a" * 64 + ".com", "%2e.com"]
)
def test_normalise_host_rejects(host: str) -> None:
    with pytest.raises(ValueError):
        normalise_host(host)


@pytest.mark.parametrize(
    ("ip", "private"),
    [
        ("127.0.0.1", True), ("10.0.0.1", True), ("172.16.5.4", True), ("192.168.1.1", True),
        ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.1", True),
        ("255.255.255.255", True), ("::1", True), ("::", True), ("fe80::1", True), ("fc00::1", True),
        ("ff02::1", True), ("::ffff:127.0.0.1", True), ("::ffff:10.0.0.1", True), ("[::1]", True),
        ("64:ff9b::a00:1", True), ("2002:c0a8:101::", True),
        ("93.184.216.34", False), ("2606:2800:220:1:248:1893:25c8:1946", False),
        ("::ffff:93.184.216.34", False),
    ],
)  # fmt: skip
def test_is_private_address(ip: str, private: bool) -> None:
    assert is_private_address(ip) is private


def test_is_private_address_rejects_names() -> None:
    with pytest.raises(ValueError):
        is_private_address("localhost")


def test_parse_retry_after() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Wed, 01 May 2024 12:02:00 GMT", now=now) == 120.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None


def test_status_helpers_and_depth() -> None:
    assert is_permanent_status(404) and not is_permanent_status(429) and not is_permanent_status(503)
    nested: Any = 1
    for _ in range(101):
        nested = [nested]
    assert json_too_deep({"a": nested})
    assert not json_too_deep({"a": [[{"b": 1}]]})
