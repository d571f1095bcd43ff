"""OAuth 2 against a live instance over real HTTPS: app registration and every grant driven by the real
Mastodon.py (and `toot`), the authorize pages driven by HTTP like a browser would (cookies, CSRF token
parsed from the HTML), and scope checks through `fediverse.api.auth.authenticate`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import shutil
import ssl
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from mastodon import Mastodon
from mastodon.errors import MastodonIllegalArgumentError, MastodonUnauthorizedError
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fediverse.api.auth import authenticate, hash_secret
from fediverse.models import OAuthApp, OAuthGrant, OAuthToken, TeamMember, User
from tests.conftest import ThreadedClient
from tests.federation_steps import count, first, make_account
from tests.live import LiveInstance

PASSWORD = "correct horse battery"
CALLBACK = "https://app.example/callback"
ALL = ["read", "write", "follow", "push"]


class FormParser(HTMLParser):
    """The inputs of the page's forms: hidden values, and the values of the identity radios."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.radios: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "input":
            return
        attr = {key: value or "" for key, value in attrs}
        if attr.get("type") == "radio":
            self.radios.append(attr["value"])
        elif attr.get("type") == "hidden":
            self.fields[attr["name"]] = attr.get("value", "")


def parse_form(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
async def site(make_instance):
    instance = await make_instance("commune-a.test")
    alice = await make_account(instance, "alice")
    return instance, alice


@pytest.fixture
async def http(test_ca):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context()),
                                     cookie_jar=aiohttp.CookieJar()) as session:
        yield session


async def register(instance: LiveInstance, scopes: list[str] = ALL,
                   redirect_uris: list[str] | str | None = None) -> tuple[str, str]:
    return await asyncio.to_thread(Mastodon.create_app, "Appli de test", scopes=scopes, redirect_uris=redirect_uris,
                                   api_base_url=instance.base_url, request_timeout=30)


def client(instance: LiveInstance, client_id: str, client_secret: str, token: str | None = None) -> ThreadedClient:
    return ThreadedClient(Mastodon(client_id=client_id, client_secret=client_secret, access_token=token,
                                   api_base_url=instance.base_url, version_check_mode="none", request_timeout=30))


async def authorize(http: aiohttp.ClientSession, instance: LiveInstance, client_id: str, *,
                    redirect_uri: str = CALLBACK, scope: str = "read write follow push", state: str | None = "xyz",
                    challenge: str | None = None, login: str = "alice", actor_id: int | None = None,
                    expect: int = 302) -> str:
    """Log in and approve on the authorize pages; returns the redirect Location (or the oob page)."""
    query = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": scope}
    if state:
        query["state"] = state
    if challenge:
        query |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    async with http.get(f"{instance.base_url}/oauth/authorize", params=query) as response:
        assert response.status == 200, await response.text()
        login_form = parse_form(await response.text())
    assert set(query) <= set(login_form.fields)
    credentials = {"login": login, "password": PASSWORD, "action": "login"}
    async with http.post(f"{instance.base_url}/oauth/authorize", data={**login_form.fields, **credentials}) as response:
        assert response.status == 200, await response.text()
        consent = parse_form(await response.text())
    assert consent.radios, "the consent page offers at least the user's own account"
    chosen = str(actor_id) if actor_id is not None else consent.radios[0]
    async with http.post(f"{instance.base_url}/oauth/authorize", allow_redirects=False,
                         data={**consent.fields, "actor_id": chosen, "action": "approve"}) as response:
        if redirect_uri == "urn:ietf:wg:oauth:2.0:oob" or expect != 302:
            assert response.status == (200 if expect == 302 else expect), await response.text()
            return await response.text()
        assert response.status == 302, await response.text()
        return response.headers["Location"]


def code_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["code"][0]


async def token_request(http: aiohttp.ClientSession, instance: LiveInstance, **data: str) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{instance.base_url}/oauth/token", data=data) as response:
        return response.status, await response.json()


async def app_verify(http: aiohttp.ClientSession, instance: LiveInstance, token: str) -> tuple[int, Any]:
    async with http.get(f"{instance.base_url}/api/v1/apps/verify_credentials",
                        headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


# --- app registration -----------------------------------------------------------------------------

async def test_app_registration_returns_the_mastodon_application_entity_and_stores_the_secret_hashed(site, http):
    instance, _ = site
    async with http.post(f"{instance.base_url}/api/v1/apps", data={
            "client_name": "Formulaire", "redirect_uris": f"{CALLBACK}\nurn:ietf:wg:oauth:2.0:oob",
            "scopes": "read write:statuses", "website": "https://app.example"}) as response:
        assert response.status == 200
        entity = await response.json()
    assert set(entity) == {"id", "name", "website", "scopes", "redirect_uri", "redirect_uris", "client_id",
                           "client_secret", "client_secret_expires_at", "vapid_key"}
    assert isinstance(entity["id"], str) and entity["name"] == "Formulaire"
    assert entity["website"] == "https://app.example"
    assert entity["scopes"] == ["read", "write:statuses"]
    assert entity["redirect_uris"] == [CALLBACK, "urn:ietf:wg:oauth:2.0:oob"]
    assert entity["redirect_uri"] == f"{CALLBACK}\nurn:ietf:wg:oauth:2.0:oob"
    assert entity["client_secret_expires_at"] == 0
    assert len(base64.urlsafe_b64decode(entity["vapid_key"] + "==")) == 65  # uncompressed P-256 point
    stored = await first(instance, select(OAuthApp).where(OAuthApp.client_id == entity["client_id"]))
    assert stored.client_secret_hash == hash_secret(entity["client_secret"])
    assert entity["client_secret"] not in stored.client_secret_hash

    async with http.post(f"{instance.base_url}/api/v1/apps", json={
            "client_name": "JSON", "redirect_uris": [CALLBACK, "elk://oauth"]}) as response:
        assert response.status == 200
        json_entity = await response.json()
    assert json_entity["redirect_uris"] == [CALLBACK, "elk://oauth"]
    assert json_entity["scopes"] == ["read"] and json_entity["website"] is None


@pytest.mark.parametrize("fields, field", [
    ({"client_name": "x", "redirect_uris": CALLBACK, "scopes": "read lire"}, "scopes"),
    ({"client_name": "x", "redirect_uris": "/relative/callback"}, "redirect_uris"),
    ({"client_name": "x", "redirect_uris": "javascript:alert(1)"}, "redirect_uris"),
    ({"client_name": "x", "redirect_uris": "https://app.example/cb#fragment"}, "redirect_uris"),
    ({"client_name": "x"}, "redirect_uris"),
    ({"redirect_uris": CALLBACK}, "client_name"),
])
async def test_app_registration_refuses_invalid_scopes_and_redirect_uris_with_422(site, http, fields, field):
    instance, _ = site
    async with http.post(f"{instance.base_url}/api/v1/apps", data=fields) as response:
        assert response.status == 422
        body = await response.json()
    assert body["error"].startswith("Validation failed") and field in body["details"]
    assert await count(instance, OAuthApp) == 0


async def test_authorization_server_metadata_lists_https_endpoints_and_grants(site, http):
    instance, _ = site
    async with http.get(f"{instance.base_url}/.well-known/oauth-authorization-server") as response:
        assert response.status == 200
        meta = await response.json()
    assert meta["issuer"] == "https://commune-a.test/"
    for key, path in [("authorization_endpoint", "/oauth/authorize"), ("token_endpoint", "/oauth/token"),
                      ("revocation_endpoint", "/oauth/revoke"), ("app_registration_endpoint", "/api/v1/apps")]:
        assert meta[key] == f"https://commune-a.test{path}"
    assert set(meta["grant_types_supported"]) == {"authorization_code", "password", "client_credentials",
                                                  "refresh_token"}
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"read", "write", "follow", "push", "read:statuses"} <= set(meta["scopes_supported"])
    assert meta["service_documentation"].startswith("https://")


# --- password grant -------------------------------------------------------------------------------

@pytest.mark.parametrize("login", ["alice", "alice@commune-a.test"])
async def test_password_grant_logs_in_mastodon_py_by_username_or_email(site, login):
    instance, alice = site
    client_id, client_secret = await register(instance)
    app = client(instance, client_id, client_secret)
    token = await app.log_in(login, PASSWORD)
    stored = await first(instance, select(OAuthToken).where(OAuthToken.token_hash == hash_secret(token)))
    assert stored.actor_id == alice.id and stored.scopes == "read write follow push"
    assert stored.refresh_token_hash and stored.revoked_at is None
    assert (await app.app_verify_credentials())["name"] == "Appli de test"


async def test_wrong_password_is_refused_with_invalid_grant(site, http):
    instance, _ = site
    client_id, client_secret = await register(instance)
    with pytest.raises(MastodonIllegalArgumentError):
        await client(instance, client_id, client_secret).log_in("alice", "not the password")
    status, body = await token_request(http, instance, grant_type="password", client_id=client_id,
                                       client_secret=client_secret, username="alice", password="wrong password")
    assert status == 400 and body["error"] == "invalid_grant" and body["error_description"]
    status, body = await token_request(http, instance, grant_type="password", client_id=client_id,
                                       client_secret="not the secret", username="alice", password=PASSWORD)
    assert status == 401 and body["error"] == "invalid_client"
    assert await count(instance, OAuthToken) == 0


async def test_password_grant_ignores_unknown_fields_and_accepts_json_and_basic_auth(site, http):
    instance, alice = site
    client_id, client_secret = await register(instance)
    async with http.post(f"{instance.base_url}/oauth/token", json={
            "grant_type": "password", "client_id": client_id, "client_secret": client_secret, "username": "alice",
            "password": PASSWORD, "scope": "read", "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
            "whatever": "junk"}) as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        body = await response.json()
    assert set(body) == {"access_token", "token_type", "scope", "created_at", "refresh_token"}
    assert body["token_type"] == "Bearer" and body["scope"] == "read" and isinstance(body["created_at"], int)
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    async with http.post(f"{instance.base_url}/oauth/token", headers={"Authorization": f"Basic {basic}"},
                         data={"grant_type": "password", "username": "alice", "password": PASSWORD}) as response:
        assert response.status == 200
    assert await count(instance, OAuthToken, OAuthToken.actor_id == alice.id) == 2


async def test_scopes_beyond_the_apps_are_refused(site, http):
    instance, _ = site
    client_id, client_secret = await register(instance, scopes=["read"])
    status, body = await token_request(http, instance, grant_type="password", client_id=client_id,
                                       client_secret=client_secret, username="alice", password=PASSWORD,
                                       scope="read write")
    assert status == 400 and body["error"] == "invalid_scope"
    async with http.get(f"{instance.base_url}/oauth/authorize", params={
            "client_id": client_id, "redirect_uri": "urn:ietf:wg:oauth:2.0:oob", "response_type": "code",
            "scope": "read write"}) as response:
        assert response.status == 400
        assert response.content_type == "text/html"


# --- authorization code ---------------------------------------------------------------------------

async def test_authorization_code_flow_redirects_with_code_and_state_and_mastodon_py_exchanges_it(site, http):
    instance, alice = site
    client_id, client_secret = await register(instance, redirect_uris=[CALLBACK, "urn:ietf:wg:oauth:2.0:oob"])
    location = await authorize(http, instance, client_id, state="état-42")
    assert location.startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["état-42"]
    grant = await first(instance, select(OAuthGrant))
    assert grant.code_hash == hash_secret(query["code"][0]) and grant.actor_id == alice.id
    cookie = next(c for c in http.cookie_jar if c.key == "fediverse_session")
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"].lower() == "lax"

    app = client(instance, client_id, client_secret)
    token = await app.log_in(code=query["code"][0], redirect_uri=CALLBACK)
    assert (await app.app_verify_credentials())["name"] == "Appli de test"
    stored = await first(instance, select(OAuthToken).where(OAuthToken.token_hash == hash_secret(token)))
    assert stored.actor_id == alice.id and stored.scopes == "read write follow push"

    with pytest.raises(MastodonIllegalArgumentError):  # a code is single-use
        await client(instance, client_id, client_secret).log_in(code=query["code"][0], redirect_uri=CALLBACK)
    status, body = await token_request(http, instance, grant_type="authorization_code", code=query["code"][0],
                                       redirect_uri=CALLBACK, client_id=client_id, client_secret=client_secret)
    assert status == 400 and body["error"] == "invalid_grant"


async def test_pkce_s256_is_verified_and_a_wrong_verifier_gets_invalid_grant(site, http):
    instance, _ = site
    client_id, client_secret = await register(instance, redirect_uris=CALLBACK)
    verifier = secrets.token_urlsafe(48)
    credentials = {"client_id": client_id, "client_secret": client_secret, "grant_type": "authorization_code",
                   "redirect_uri": CALLBACK}

    code = code_of(await authorize(http, instance, client_id, challenge=s256(verifier)))
    wrong = secrets.token_urlsafe(48)
    status, body = await token_request(http, instance, **credentials, code=code, code_verifier=wrong)
    assert status == 400 and body["error"] == "invalid_grant"

    code = code_of(await authorize(http, instance, client_id, challenge=s256(verifier)))
    status, body = await token_request(http, instance, **credentials, code=code)
    assert status == 400 and body["error"] == "invalid_grant"

    code = code_of(await authorize(http, instance, client_id, challenge=s256(verifier)))
    public = {key: value for key, value in credentials.items() if key != "client_secret"}  # a public client
    status, body = await token_request(http, instance, **public, code=code, code_verifier=verifier)
    assert status == 200 and body["token_type"] == "Bearer"
    assert (await app_verify(http, instance, body["access_token"]))[0] == 200


async def test_redirect_uri_not_registered_is_refused_on_the_page_and_at_the_token_endpoint(site, http):
    instance, _ = site
    client_id, client_secret = await register(instance, redirect_uris=[CALLBACK, "https://app.example/other"])
    async with http.get(f"{instance.base_url}/oauth/authorize", allow_redirects=False, params={
            "client_id": client_id, "redirect_uri": "https://evil.example/callback", "response_type": "code",
            "scope": "read"}) as response:
        assert response.status == 400
        assert "evil.example" not in response.headers.get("Location", "")
        assert "<h1>" in await response.text()
    code = code_of(await authorize(http, instance, client_id, scope="read"))
    status, body = await token_request(http, instance, grant_type="authorization_code", code=code,
                                       redirect_uri="https://app.example/other", client_id=client_id,
                                       client_secret=client_secret)
    assert status == 400 and body["error"] == "invalid_grant"


async def test_authorize_errors_are_readable_400_pages(site, http):
    instance, _ = site
    client_id, _ = await register(instance, redirect_uris=CALLBACK)
    cases = [{}, {"client_id": "unknown"}, {"client_id": client_id, "response_type": "token"},
             {"client_id": client_id, "response_type": "code", "scope": "read bogus"},
             {"client_id": client_id, "response_type": "code", "code_challenge": "x" * 43,
              "code_challenge_method": "plain"}]
    for params in cases:
        async with http.get(f"{instance.base_url}/oauth/authorize", params=params) as response:
            assert response.status == 400, params
            assert response.content_type == "text/html"
            assert "<h1>" in await response.text()


async def test_missing_or_wrong_csrf_token_is_refused_and_issues_no_code(site, http):
    instance, _ = site
    client_id, _ = await register(instance, redirect_uris=CALLBACK)
    params = {"client_id": client_id, "redirect_uri": CALLBACK, "response_type": "code", "scope": "read"}
    async with http.get(f"{instance.base_url}/oauth/authorize", params=params) as response:
        fields = parse_form(await response.text()).fields
    for token in (None, "forged-token"):
        data = {**fields, "login": "alice", "password": PASSWORD, "action": "login"}
        data.pop("csrf_token")
        if token:
            data["csrf_token"] = token
        async with http.post(f"{instance.base_url}/oauth/authorize", data=data) as response:
            assert response.status == 403
            assert "Act as" not in await response.text()
    async with http.post(f"{instance.base_url}/oauth/authorize", data={
            **fields, "login": "alice", "password": PASSWORD, "action": "login"}) as response:
        consent = parse_form(await response.text())
    approve = {**consent.fields, "actor_id": consent.radios[0], "action": "approve"}
    async with http.post(f"{instance.base_url}/oauth/authorize", allow_redirects=False,
                         data={**approve, "csrf_token": fields["csrf_token"]}) as response:
        assert response.status == 403  # the token from before the login no longer counts
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())  # a cross-site post: no session cookie
    async with aiohttp.ClientSession(connector=connector) as stranger, stranger.post(
            f"{instance.base_url}/oauth/authorize", data=approve, allow_redirects=False) as response:
        assert response.status == 403
    assert await count(instance, OAuthGrant) == 0


async def test_wrong_password_on_the_login_page_shows_the_form_again(site, http):
    instance, _ = site
    client_id, _ = await register(instance, redirect_uris=CALLBACK)
    async with http.get(f"{instance.base_url}/oauth/authorize", params={
            "client_id": client_id, "redirect_uri": CALLBACK, "response_type": "code", "scope": "read"}) as response:
        fields = parse_form(await response.text()).fields
    async with http.post(f"{instance.base_url}/oauth/authorize", data={
            **fields, "login": "alice", "password": "nope nope nope", "action": "login"}) as response:
        assert response.status == 400
        page = parse_form(await response.text())
    assert page.radios == [] and "csrf_token" in page.fields


async def test_deny_redirects_with_access_denied_and_the_state(site, http):
    instance, _ = site
    client_id, _ = await register(instance, redirect_uris=CALLBACK)
    async with http.get(f"{instance.base_url}/oauth/authorize", params={
            "client_id": client_id, "redirect_uri": CALLBACK, "response_type": "code", "scope": "read",
            "state": "s1"}) as response:
        fields = parse_form(await response.text()).fields
    async with http.post(f"{instance.base_url}/oauth/authorize", data={
            **fields, "login": "alice@commune-a.test", "password": PASSWORD, "action": "login"}) as response:
        consent = parse_form(await response.text())
    async with http.post(f"{instance.base_url}/oauth/authorize", allow_redirects=False,
                         data={**consent.fields, "action": "deny"}) as response:
        assert response.status == 302
        query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["s1"] and "code" not in query
    assert await count(instance, OAuthGrant) == 0


async def test_out_of_band_code_is_shown_on_a_page_and_exchanged_by_mastodon_py(site, http):
    instance, alice = site
    client_id, client_secret = await register(instance)
    page = await authorize(http, instance, client_id, redirect_uri="urn:ietf:wg:oauth:2.0:oob", state=None)
    code = page.split('id="authorization-code">', 1)[1].split("<", 1)[0].strip()
    app = client(instance, client_id, client_secret)
    token = await app.log_in(code=code)
    assert await first(instance, select(OAuthToken.actor_id).where(OAuthToken.token_hash == hash_secret(token))) \
        == alice.id


async def test_consent_offers_the_accounts_of_the_users_team_and_the_token_acts_as_the_chosen_one(site, http):
    instance, alice = site
    club = await make_account(instance, "club_de_foot", kind="association")
    other = await make_account(instance, "autre_asso", kind="association")
    async with instance.runtime.sessions() as session, session.begin():
        user_id = await session.scalar(select(User.id).where(User.actor_id == alice.id))
        session.add(TeamMember(actor_id=club.id, user_id=user_id, role="editor"))
    client_id, client_secret = await register(instance, redirect_uris=CALLBACK)
    page = await authorize(http, instance, client_id, actor_id=other.id, expect=400)
    assert str(other.id) not in parse_form(page).radios  # an account outside the user's teams cannot be chosen
    assert await count(instance, OAuthGrant) == 0
    code = code_of(await authorize(http, instance, client_id, actor_id=club.id))
    app = client(instance, client_id, client_secret)
    token = await app.log_in(code=code, redirect_uri=CALLBACK)
    stored = await first(instance, select(OAuthToken).where(OAuthToken.token_hash == hash_secret(token)))
    assert stored.actor_id == club.id and stored.user_id == user_id


# --- client credentials, refresh, revoke, scopes --------------------------------------------------

async def test_client_credentials_give_an_app_token_without_user(site, http):
    instance, _ = site
    client_id, client_secret = await register(instance)
    status, body = await token_request(http, instance, grant_type="client_credentials", client_id=client_id,
                                       client_secret=client_secret, scope="read")
    assert status == 200 and body["scope"] == "read" and "refresh_token" not in body
    status, entity = await app_verify(http, instance, body["access_token"])
    assert status == 200 and entity["name"] == "Appli de test" and "client_secret" not in entity
    stored = await first(instance, select(OAuthToken).where(OAuthToken.token_hash == hash_secret(body["access_token"])))
    assert stored.user_id is None and stored.actor_id is None
    async with http.get(f"{instance.base_url}/api/v1/apps/verify_credentials") as response:
        assert response.status == 401 and "error" in await response.json()
    status, body = await token_request(http, instance, grant_type="client_credentials", client_id=client_id)
    assert status == 401 and body["error"] == "invalid_client"
    status, body = await token_request(http, instance, grant_type="implicit", client_id=client_id,
                                       client_secret=client_secret)
    assert status == 400 and body["error"] == "unsupported_grant_type"


async def test_refresh_token_rotates_both_tokens(site, http):
    instance, alice = site
    client_id, client_secret = await register(instance)
    status, first_pair = await token_request(http, instance, grant_type="password", client_id=client_id,
                                             client_secret=client_secret, username="alice", password=PASSWORD,
                                             scope="read write")
    assert status == 200
    app = client(instance, client_id, client_secret)
    new_token = await app.log_in(refresh_token=first_pair["refresh_token"], scopes=["read"])
    assert new_token != first_pair["access_token"]
    assert (await app_verify(http, instance, new_token))[0] == 200
    assert (await app_verify(http, instance, first_pair["access_token"]))[0] == 401
    stored = await first(instance, select(OAuthToken).where(OAuthToken.token_hash == hash_secret(new_token)))
    assert stored.actor_id == alice.id and stored.scopes == "read"
    status, body = await token_request(http, instance, grant_type="refresh_token", client_id=client_id,
                                       client_secret=client_secret, refresh_token=first_pair["refresh_token"])
    assert status == 400 and body["error"] == "invalid_grant"


async def test_revoked_token_gets_401(site):
    instance, _ = site
    client_id, client_secret = await register(instance)
    app = client(instance, client_id, client_secret)
    await app.log_in("alice", PASSWORD)
    token = app.sync.access_token
    await app.revoke_access_token()
    with pytest.raises(MastodonUnauthorizedError):
        await client(instance, client_id, client_secret, token).app_verify_credentials()


async def test_scopes_are_enforced_by_authenticate(site, http):
    instance, _ = site

    async def needs(request: Request) -> JSONResponse:
        identity = await authenticate(request, request.path_params["scope"].replace("-", ":"))
        return JSONResponse({"actor_id": str(identity.actor_id)})

    instance.app.router.routes.append(Route("/test-scope/{scope}", needs))
    client_id, client_secret = await register(instance)
    status, body = await token_request(http, instance, grant_type="password", client_id=client_id,
                                       client_secret=client_secret, username="alice", password=PASSWORD,
                                       scope="read write:statuses")
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    for scope, expected in [("read-accounts", 200), ("write-statuses", 200), ("write-follows", 403), ("write", 403),
                            ("push", 403)]:
        async with http.get(f"{instance.base_url}/test-scope/{scope}", headers=headers) as response:
            assert response.status == expected, scope
            if expected == 403:
                assert "error" in await response.json()
    async with http.get(f"{instance.base_url}/test-scope/read", headers={"Authorization": "Bearer nope"}) as response:
        assert response.status == 401
    status, body = await token_request(http, instance, grant_type="client_credentials", client_id=client_id,
                                       client_secret=client_secret, scope="read")
    async with http.get(f"{instance.base_url}/test-scope/read",
                        headers={"Authorization": f"Bearer {body['access_token']}"}) as response:
        assert response.status == 422  # an app token has no user to act as


# --- toot -----------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("toot") is None, reason="toot is not installed (pip install toot)")
async def test_toot_login_cli_logs_in_by_email(site, http, tmp_path: Path):
    instance, alice = site
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "REQUESTS_CA_BUNDLE": os.environ["SSL_CERT_FILE"]}
    process = await asyncio.create_subprocess_exec(
        shutil.which("toot") or "toot", "login_cli", "-i", instance.base_url, "-e", "alice@commune-a.test",
        "-p", PASSWORD, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await asyncio.wait_for(process.communicate(), timeout=120))[0].decode(errors="replace")
    missing = []
    for path in ("/api/v1/instance", "/api/v1/accounts/verify_credentials"):
        async with http.get(f"{instance.base_url}{path}") as response:
            if response.status == 404:
                missing.append(path)
    if process.returncode != 0 and missing:
        pytest.xfail(f"toot needs {', '.join(missing)}, not implemented yet (built in parallel): {output[-300:]}")
    assert process.returncode == 0, output
    assert "Successfully logged in" in output
    assert await count(instance, OAuthToken, OAuthToken.actor_id == alice.id) == 1
