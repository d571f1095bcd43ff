"""WebFinger and host-meta endpoints, and the WebFinger client against a real TLS server.

The endpoints are driven through the ASGI interface directly (httpx is not a dependency);
the client talks to an aiohttp server over real TLS with a private CA (trustme), through
the production HttpClient and its address policy.
"""

from __future__ import annotations

import json
import socket
import ssl
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from starlette.applications import Starlette

import actors.accounts
from actors.accounts import create_account, ensure_instance_actor
from fediverse.config import Settings
from fediverse.db import utcnow
from fediverse.http import FetchError, HttpClient
from fediverse.keys import generate_rsa_keypair
from fediverse.models import Actor
from fediverse.runtime import Runtime
from fediverse.uris import Uris
from tests.conftest import make_settings
from webfinger.client import WebFingerError, actor_uri_from_jrd, parse_handle, resolve_handle
from webfinger.routes import PROFILE_PAGE_REL, SUBSCRIBE_REL, routes

XRD_NS = "{http://docs.oasis-open.org/ns/xri/xrd-1.0}"


# ---------------------------------------------------------------------------------------------
# A minimal ASGI driver (shared with test_nodeinfo.py)
# ---------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """What an ASGI app answered to one request."""

    status: int
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


async def asgi_get(app: Starlette, path: str, params: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> Reply:
    """Send one GET through the ASGI interface and collect the response."""
    query = urlencode(params or {}).encode()
    raw_headers = [(b"host", b"testserver")] + [
        (k.lower().encode(), v.encode()) for k, v in (headers or {}).items()
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "https", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query, "headers": raw_headers, "client": ("127.0.0.1", 5000),
        "server": ("testserver", 443),
    }
    sent = False
    reply = Reply(status=0, headers={})

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            reply.body += message.get("body", b"")

    await app(scope, receive, send)
    return reply


def discovery_app(runtime: Runtime) -> Starlette:
    """A Starlette app with only the discovery routes, bound to `runtime`."""
    app = Starlette(routes=routes)
    app.state.runtime = runtime
    return app


@pytest.fixture(scope="session")
def _one_keypair() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture(autouse=True)
def fast_accounts(monkeypatch: pytest.MonkeyPatch, _one_keypair: tuple[str, str]) -> None:
    """Discovery never uses keys or passwords: skip RSA generation and argon2 to keep tests quick."""
    monkeypatch.setattr(actors.accounts, "generate_rsa_keypair", lambda: _one_keypair)
    monkeypatch.setattr(actors.accounts, "hash_password", lambda password: "not-a-hash")


@pytest.fixture
def app(runtime: Runtime) -> Starlette:
    return discovery_app(runtime)


@pytest.fixture
async def accounts(runtime: Runtime) -> dict[str, Actor]:
    """Alice, a suspended and a deleted account, the instance actor, and a cached remote actor."""
    async with runtime.sessions() as session, session.begin():
        alice, _ = await create_account(session, runtime.uris, "Alice", email="alice@example.org",
                                        password="correct horse")
        susp, _ = await create_account(session, runtime.uris, "suspendu", email="s@example.org",
                                       password="correct horse")
        gone, _ = await create_account(session, runtime.uris, "parti", email="p@example.org",
                                       password="correct horse")
        susp.suspended_at = utcnow()
        gone.deleted_at = utcnow()
        instance = await ensure_instance_actor(session, runtime.uris)
        remote = Actor(uri="https://remote.example/users/bob", username="bob", username_lower="bob",
                       domain="remote.example", domain_key="remote.example",
                       inbox_url="https://remote.example/users/bob/inbox")
        session.add(remote)
    return {"alice": alice, "instance": instance, "remote": remote}


# ---------------------------------------------------------------------------------------------
# GET /.well-known/webfinger
# ---------------------------------------------------------------------------------------------


async def webfinger(app: Starlette, resource: str | None) -> Reply:
    return await asgi_get(app, "/.well-known/webfinger", {} if resource is None else {"resource": resource})


async def test_acct_lookup(app: Starlette, runtime: Runtime, accounts: dict[str, Actor]) -> None:
    reply = await webfinger(app, "acct:alice@commune-a.test")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/jrd+json; charset=utf-8"
    assert reply.headers["access-control-allow-origin"] == "*"
    jrd = reply.json()
    actor_uri = "https://commune-a.test/users/Alice"
    profile = "https://commune-a.test/@Alice"
    assert jrd["subject"] == "acct:Alice@commune-a.test"
    assert jrd["aliases"] == [actor_uri, profile]
    links = {link["rel"]: link for link in jrd["links"]}
    assert links["self"] == {"rel": "self", "type": "application/activity+json", "href": actor_uri}
    assert links[PROFILE_PAGE_REL] == {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": profile}
    assert links[SUBSCRIBE_REL]["template"] == "https://commune-a.test/authorize_interaction?uri={uri}"
    assert actor_uri_from_jrd(jrd) == actor_uri


@pytest.mark.parametrize("resource", [
    "acct:ALICE@COMMUNE-A.TEST",
    "acct:alice@commune-a.test.",
    "ACCT:Alice@commune-a.test",
    "alice@commune-a.test",
    "@alice@commune-a.test",
    " acct:alice@commune-a.test ",
])
async def test_acct_variants(app: Starlette, accounts: dict[str, Actor], resource: str) -> None:
    reply = await webfinger(app, resource)
    assert reply.status == 200, reply.body
    assert reply.json()["subject"] == "acct:Alice@commune-a.test"


@pytest.mark.parametrize("resource", [
    "https://commune-a.test/users/Alice",
    "https://commune-a.test/users/alice",
    "https://COMMUNE-A.test/users/Alice",
    "https://commune-a.test/@Alice",
    "https://commune-a.test/@alice",
])
async def test_url_lookup(app: Starlette, accounts: dict[str, Actor], resource: str) -> None:
    reply = await webfinger(app, resource)
    assert reply.status == 200, reply.body
    jrd = reply.json()
    assert jrd["subject"] == "acct:Alice@commune-a.test"
    assert jrd["links"][0]["href"] == "https://commune-a.test/users/Alice"


@pytest.mark.parametrize("resource", ["acct:commune-a.test@commune-a.test", "https://commune-a.test/actor"])
async def test_instance_actor(app: Starlette, accounts: dict[str, Actor], resource: str) -> None:
    reply = await webfinger(app, resource)
    assert reply.status == 200, reply.body
    jrd = reply.json()
    assert jrd["subject"] == "acct:commune-a.test@commune-a.test"
    assert jrd["aliases"][0] == "https://commune-a.test/actor"
    assert jrd["links"][0] == {"rel": "self", "type": "application/activity+json",
                               "href": "https://commune-a.test/actor"}


async def test_relay_at_our_domain_is_the_instance_actor_as_mobilizon_subscribes(
        app: Starlette, accounts: dict[str, Actor]) -> None:
    reply = await webfinger(app, "acct:relay@commune-a.test")
    assert reply.status == 200, reply.body
    jrd = reply.json()
    assert jrd["subject"] == "acct:relay@commune-a.test"
    assert jrd["links"][0]["href"] == "https://commune-a.test/actor"


@pytest.mark.parametrize("resource", [
    "acct:nobody@commune-a.test",
    "acct:suspendu@commune-a.test",
    "acct:parti@commune-a.test",
    "acct:bob@remote.example",                 # a remote actor we have cached: never answered
    "https://remote.example/users/bob",
    "acct:alice@other.example",
    "acct:alice@commune-a.test.evil.example",
    "acct:alice@commune-a.test:8000",           # a port makes it another server
    "https://commune-a.test.evil.example/users/Alice",
    "https://commune-a.test/users/Alice/followers",
    "https://commune-a.test/about",
    "https://commune-a.test/@commune-a.test",
    "acct:not*valid@commune-a.test",
])
async def test_not_found(app: Starlette, accounts: dict[str, Actor], resource: str) -> None:
    reply = await webfinger(app, resource)
    assert reply.status == 404, (resource, reply.body)
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "error" in reply.json()


@pytest.mark.parametrize("resource", [
    None, "", "   ", "alice", "acct:alice", "acct:@commune-a.test", "acct:alice@", "https://",
    "https://[::1/users/alice", "ftp://commune-a.test/users/alice", "acct:a/b@commune-a.test",
    pytest.param("x" * 3000, id="too-long"),
])
async def test_bad_request(app: Starlette, accounts: dict[str, Actor], resource: str | None) -> None:
    reply = await webfinger(app, resource)
    assert reply.status == 400, (resource, reply.body)
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.json()["error"]


async def test_port_in_domain(tmp_path: Path, runtime: Runtime) -> None:
    """With domain localhost:8000 the handle carries the port; bare `localhost` is not us."""
    settings = make_settings(tmp_path / "port", domain="localhost:8000", insecure_http=True)
    local = replace(runtime, settings=settings, uris=Uris(settings))
    async with local.sessions() as session, session.begin():
        await create_account(session, local.uris, "camille", email="c@example.org", password="correct horse")
        await ensure_instance_actor(session, local.uris)
    app = discovery_app(local)
    reply = await webfinger(app, "acct:camille@localhost:8000")
    assert reply.status == 200
    assert reply.json()["links"][0]["href"] == "http://localhost:8000/users/camille"
    assert (await webfinger(app, "acct:camille@localhost")).status == 404
    reply = await webfinger(app, "acct:localhost:8000@localhost:8000")
    assert reply.status == 200
    assert reply.json()["links"][0]["href"] == "http://localhost:8000/actor"
    assert (await webfinger(app, "http://localhost:8000/@camille")).status == 200


async def test_success_is_cacheable(app: Starlette, accounts: dict[str, Actor]) -> None:
    reply = await webfinger(app, "acct:alice@commune-a.test")
    assert reply.headers["cache-control"].startswith("public")


# ---------------------------------------------------------------------------------------------
# host-meta
# ---------------------------------------------------------------------------------------------


async def test_host_meta_xml(app: Starlette) -> None:
    reply = await asgi_get(app, "/.well-known/host-meta")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/xrd+xml")
    assert reply.headers["access-control-allow-origin"] == "*"
    root = ET.fromstring(reply.body)
    assert root.tag == f"{XRD_NS}XRD"
    links = root.findall(f"{XRD_NS}Link")
    assert [(link.get("rel"), link.get("template")) for link in links] == [
        ("lrdd", "https://commune-a.test/.well-known/webfinger?resource={uri}")
    ]


async def test_host_meta_json(app: Starlette) -> None:
    reply = await asgi_get(app, "/.well-known/host-meta.json")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.json() == {"links": [
        {"rel": "lrdd", "template": "https://commune-a.test/.well-known/webfinger?resource={uri}"}
    ]}


# ---------------------------------------------------------------------------------------------
# The client: parse_handle
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("handle", "expected"), [
    ("bob@remote.example", ("bob", "remote.example")),
    ("@bob@remote.example", ("bob", "remote.example")),
    ("acct:bob@remote.example", ("bob", "remote.example")),
    ("  ACCT:@Bob@Remote.Example.  ", ("Bob", "remote.example")),
    ("bob@remote.example:8443", ("bob", "remote.example:8443")),
    ("bob@bücher.example", ("bob", "xn--bcher-kva.example")),
    ("bob@[::1]:8443", ("bob", "[::1]:8443")),
    ("b.o-b_1@remote.example", ("b.o-b_1", "remote.example")),
])
def test_parse_handle(handle: str, expected: tuple[str, str]) -> None:
    assert parse_handle(handle) == expected


@pytest.mark.parametrize("handle", [
    "", "bob", "@bob", "bob@", "@remote.example", "bob@remote.example@other.example",
    "bob/../admin@remote.example", "bob@remote.example/path", "bob@remote.example?x=1",
    "bob@remote.example#frag", "bob@remote example", "bo b@remote.example", "bob@remote.example:0",
    "bob@remote.example:99999", "bob@remote.example:80a", "bob@127.1", "bob@:443", "bo:b@remote.example",
    "bob@user:pass@remote.example", "bob@[::1", "https://remote.example/users/bob",
    pytest.param("x" * 600 + "@a.example", id="too-long"),
])
def test_parse_handle_rejects(handle: str) -> None:
    with pytest.raises(WebFingerError):
        parse_handle(handle)


def test_webfinger_error_is_value_error() -> None:
    assert issubclass(WebFingerError, ValueError)


@pytest.mark.parametrize(("links", "expected"), [
    ([{"rel": "self", "type": "application/activity+json", "href": "https://r.example/u/bob"}],
     "https://r.example/u/bob"),
    ([{"rel": "self", "type": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
       "href": "https://r.example/u/bob"}], "https://r.example/u/bob"),
    ([{"rel": "self", "type": "text/html", "href": "https://r.example/@bob"},
      {"rel": "self", "type": "application/activity+json", "href": "https://r.example/u/bob"}],
     "https://r.example/u/bob"),
])
def test_actor_uri_from_jrd(links: list[dict[str, str]], expected: str) -> None:
    assert actor_uri_from_jrd({"links": links}) == expected


@pytest.mark.parametrize("document", [
    {},
    {"links": "nope"},
    {"links": [{"rel": "self", "type": "application/ld+json", "href": "https://r.example/u/bob"}]},
    {"links": [{"rel": "self", "type": "application/json", "href": "https://r.example/u/bob"}]},
    {"links": [{"rel": PROFILE_PAGE_REL, "type": "application/activity+json", "href": "https://r.example/u"}]},
    {"links": [{"rel": "self", "type": "application/activity+json", "href": "http://r.example/u/bob"}]},
    {"links": [{"rel": "self", "type": "application/activity+json", "href": "javascript:alert(1)"}]},
    {"links": [{"rel": "self", "type": "application/activity+json", "href": "/users/bob"}]},
    {"links": [{"rel": "self", "type": "application/activity+json", "href": 42}]},
    {"links": [{"rel": "self", "type": "application/activity+json"}]},
])
def test_actor_uri_from_jrd_rejects(document: dict[str, Any]) -> None:
    with pytest.raises(WebFingerError):
        actor_uri_from_jrd(document)


def test_actor_uri_from_jrd_http_only_when_insecure() -> None:
    document = {"links": [{"rel": "self", "type": "application/activity+json", "href": "http://r.example/u"}]}
    assert actor_uri_from_jrd(document, insecure_http=True) == "http://r.example/u"


# ---------------------------------------------------------------------------------------------
# The client against a real TLS server
# ---------------------------------------------------------------------------------------------

REMOTE_HOST = "remote.test"


class FixedResolver(AbstractResolver):
    """Fake DNS: every name resolves to 127.0.0.1 (the address policy still judges it)."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


@dataclass
class RemoteServer:
    """A WebFinger server on 127.0.0.1; `answers` maps a resource to (status, JSON body)."""

    port: int = 0
    answers: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (resource, accept, query)
    content_type: str = "application/jrd+json; charset=utf-8"

    @property
    def domain(self) -> str:
        return f"{REMOTE_HOST}:{self.port}"

    def jrd(self, user: str, href: str | None = None, type_: str = "application/activity+json") -> None:
        subject = f"acct:{user}@{self.domain}"
        href = href or f"https://{self.domain}/users/{user}"
        self.answers[subject] = (200, {"subject": subject, "links": [
            {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": f"https://{self.domain}/@{user}"},
            {"rel": "self", "type": type_, "href": href},
        ]})

    async def handle(self, request: web.Request) -> web.Response:
        resource = request.query.get("resource", "")
        self.requests.append((resource, request.headers.get("Accept", ""), request.query_string))
        status, body = self.answers.get(resource, (404, {"error": "not found"}))
        return web.Response(status=status, body=json.dumps(body).encode(), content_type=None,
                            headers={"Content-Type": self.content_type})


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def _serve(server: RemoteServer, ssl_context: ssl.SSLContext | None) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/.well-known/webfinger", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    server.port = runner.addresses[0][1]
    return runner


@pytest.fixture
async def tls_remote(ca: trustme.CA) -> AsyncIterator[RemoteServer]:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(REMOTE_HOST).configure_cert(server_ctx)
    server = RemoteServer()
    runner = await _serve(server, server_ctx)
    yield server
    await runner.cleanup()


@pytest.fixture
async def client_runtime(tmp_path: Path, runtime: Runtime, ca: trustme.CA) -> AsyncIterator[Runtime]:
    """Our instance, with an HttpClient trusting the test CA and allowed to reach remote.test."""
    settings = make_settings(tmp_path / "client", allowed_private_hosts=[REMOTE_HOST])
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    http = HttpClient(settings, user_agent="test", ssl_context=client_ctx, resolver=FixedResolver())
    await http.start()
    yield replace(runtime, settings=settings, uris=Uris(settings), http=http)
    await http.close()


@pytest.mark.parametrize("form", ["{user}@{domain}", "@{user}@{domain}", "acct:{user}@{domain}"])
async def test_resolve_handle_over_tls(client_runtime: Runtime, tls_remote: RemoteServer, form: str) -> None:
    tls_remote.jrd("bob")
    uri = await resolve_handle(client_runtime, form.format(user="bob", domain=tls_remote.domain))
    assert uri == f"https://{tls_remote.domain}/users/bob"
    resource, accept, query = tls_remote.requests[-1]
    assert resource == f"acct:bob@{tls_remote.domain}"
    assert query == f"resource=acct:bob@{tls_remote.domain}"
    assert accept == "application/jrd+json, application/json"


async def test_resolve_handle_ld_json_type(client_runtime: Runtime, tls_remote: RemoteServer) -> None:
    tls_remote.jrd("carol", type_='application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
                   href="https://elsewhere.example/actors/carol")
    tls_remote.content_type = "application/json"
    uri = await resolve_handle(client_runtime, f"carol@{tls_remote.domain.upper()}")
    assert uri == "https://elsewhere.example/actors/carol"


async def test_resolve_handle_without_self_link(client_runtime: Runtime, tls_remote: RemoteServer) -> None:
    tls_remote.jrd("dave", href="http://remote.test/users/dave")  # http href on a secure instance
    with pytest.raises(WebFingerError):
        await resolve_handle(client_runtime, f"dave@{tls_remote.domain}")
    subject = f"acct:erin@{tls_remote.domain}"
    tls_remote.answers[subject] = (200, {"subject": subject, "links": []})
    with pytest.raises(WebFingerError):
        await resolve_handle(client_runtime, f"erin@{tls_remote.domain}")


async def test_resolve_handle_unknown_user(client_runtime: Runtime, tls_remote: RemoteServer) -> None:
    with pytest.raises(FetchError) as info:
        await resolve_handle(client_runtime, f"nobody@{tls_remote.domain}")
    assert info.value.status == 404
    assert info.value.permanent


async def test_resolve_handle_escapes_resource(client_runtime: Runtime, tls_remote: RemoteServer) -> None:
    """Characters meaningful in a query string stay inside the resource parameter."""
    tls_remote.jrd("a&b=c")
    uri = await resolve_handle(client_runtime, f"a&b=c@{tls_remote.domain}")
    assert uri == f"https://{tls_remote.domain}/users/a&b=c"
    assert tls_remote.requests[-1][0] == f"acct:a&b=c@{tls_remote.domain}"


async def test_resolve_handle_untrusted_certificate(tmp_path: Path, runtime: Runtime,
                                                    tls_remote: RemoteServer) -> None:
    """Without the test CA in the trust store the TLS handshake fails: no silent downgrade."""
    settings = make_settings(tmp_path / "untrusting", allowed_private_hosts=[REMOTE_HOST])
    async with HttpClient(settings, user_agent="test", resolver=FixedResolver()) as http:
        untrusting = replace(runtime, settings=settings, uris=Uris(settings), http=http)
        tls_remote.jrd("bob")
        with pytest.raises(FetchError):
            await resolve_handle(untrusting, f"bob@{tls_remote.domain}")
    assert tls_remote.requests == []


async def test_resolve_handle_private_host_refused(tmp_path: Path, runtime: Runtime, ca: trustme.CA,
                                                   tls_remote: RemoteServer) -> None:
    """A host that is not in allowed_private_hosts is never contacted (SSRF policy)."""
    settings = make_settings(tmp_path / "strict")
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with HttpClient(settings, user_agent="test", ssl_context=client_ctx,
                          resolver=FixedResolver()) as http:
        strict = replace(runtime, settings=settings, uris=Uris(settings), http=http)
        with pytest.raises(FetchError) as info:
            await resolve_handle(strict, f"bob@{tls_remote.domain}")
    assert info.value.permanent
    assert tls_remote.requests == []


async def test_resolve_handle_plain_http_when_insecure(tmp_path: Path, runtime: Runtime) -> None:
    server = RemoteServer()
    runner = await _serve(server, None)
    try:
        settings = make_settings(tmp_path / "insecure", insecure_http=True,
                                 allowed_private_hosts=[REMOTE_HOST])
        async with HttpClient(settings, user_agent="test", resolver=FixedResolver()) as http:
            insecure = replace(runtime, settings=settings, uris=Uris(settings), http=http)
            server.jrd("bob", href=f"http://{server.domain}/users/bob")
            assert await resolve_handle(insecure, f"bob@{server.domain}") == f"http://{server.domain}/users/bob"
    finally:
        await runner.cleanup()


async def test_resolve_own_handle_without_http(runtime: Runtime, accounts: dict[str, Actor]) -> None:
    """Our own accounts come from the database (runtime.http is None here)."""
    assert runtime.http is None
    assert await resolve_handle(runtime, "@alice@commune-a.test") == "https://commune-a.test/users/Alice"
    assert await resolve_handle(runtime, "commune-a.test@commune-a.test") == "https://commune-a.test/actor"
    for handle in ("nobody@commune-a.test", "suspendu@commune-a.test", "parti@commune-a.test"):
        with pytest.raises(WebFingerError):
            await resolve_handle(runtime, handle)


async def test_resolve_remote_needs_http_client(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError):
        await resolve_handle(runtime, "bob@remote.example")


def test_settings_fixture_domain(settings: Settings) -> None:
    """The fixtures above assume this domain."""
    assert settings.domain == "commune-a.test"
