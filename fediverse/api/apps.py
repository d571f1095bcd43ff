"""Client applications: registration (`POST /api/v1/apps`), `verify_credentials`, and the client
lookups the OAuth endpoints share. Apps register themselves without an account, as on Mastodon."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from fediverse.api.auth import authenticate, hash_secret, new_secret
from fediverse.api.errors import ApiError, unprocessable
from fediverse.api.params import read_params, text_param
from fediverse.api.scopes import parse_scopes
from fediverse.config import Settings
from fediverse.models import OAuthApp
from fediverse.runtime import Runtime

OOB = "urn:ietf:wg:oauth:2.0:oob"
NAME_LIMIT = 60  # Mastodon's limit on application names
URI_LIMIT = 2000
# Redirect targets that would run code or read local data in the browser instead of reaching an app.
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "about", "blob"})
# The secp256r1 group order: a VAPID private key is a scalar in [1, n-1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def parse_redirect_uris(value: Any) -> list[str]:
    """One or several redirect URIs (newline/space separated, or an array); each must be absolute."""
    items = value if isinstance(value, list) else [value] if value is not None else []
    uris = list(dict.fromkeys(part for item in items if isinstance(item, str) for part in item.split()))
    if not uris:
        raise unprocessable("Redirect URI can't be blank", "redirect_uris")
    for uri in uris:
        if uri == OOB:
            continue
        try:
            parts = urlsplit(uri)
        except ValueError:
            parts = None
        if (parts is None or len(uri) > URI_LIMIT or not parts.scheme or parts.fragment
                or parts.scheme.lower() in FORBIDDEN_SCHEMES or not (parts.netloc or parts.path)):
            raise unprocessable("Redirect URI must be an absolute URI.", "redirect_uris")
    return uris


def registered_redirect_uris(app: OAuthApp) -> list[str]:
    return app.redirect_uris.split()


@lru_cache(maxsize=16)
def _vapid_public_key(secret_key: str) -> str:
    seed = hmac.new(secret_key.encode(), b"vapid-key", hashlib.sha256).digest()
    private = ec.derive_private_key(int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1())
    raw = private.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def vapid_public_key(settings: Settings) -> str:
    """The instance's Web Push (VAPID) public key, derived from its secret key so every process agrees."""
    return _vapid_public_key(settings.secret_key)


def app_to_api(app: OAuthApp, settings: Settings, client_secret: str | None = None) -> dict[str, Any]:
    """Mastodon's Application entity; the credential fields only when the secret was just created."""
    uris = registered_redirect_uris(app)
    entity: dict[str, Any] = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uri": "\n".join(uris),
        "redirect_uris": uris,
        "vapid_key": vapid_public_key(settings),
    }
    if client_secret is not None:
        entity.update(client_id=app.client_id, client_secret=client_secret, client_secret_expires_at=0)
    return entity


async def find_app(session: AsyncSession, client_id: str | None) -> OAuthApp | None:
    if not client_id or len(client_id) > 64:
        return None
    return await session.scalar(select(OAuthApp).where(OAuthApp.client_id == client_id))


def secret_matches(app: OAuthApp, client_secret: str | None) -> bool:
    """Constant-time comparison of the hashes, so the stored value never leaks through timing."""
    if not client_secret:
        return False
    return secrets.compare_digest(app.client_secret_hash, hash_secret(client_secret))


async def create_app(request: Request) -> JSONResponse:
    params = await read_params(request)
    name = text_param(params, "client_name")
    if not name:
        raise unprocessable("Name can't be blank", "client_name")
    if len(name) > NAME_LIMIT:
        raise unprocessable(f"Name is too long (maximum is {NAME_LIMIT} characters)", "client_name")
    uris = parse_redirect_uris(params.get("redirect_uris"))
    try:
        scopes = parse_scopes(text_param(params, "scopes"), default="read")
    except ValueError as exc:
        raise unprocessable(f"Scopes {exc}", "scopes") from exc
    website = text_param(params, "website")
    if website is not None:
        try:
            parts = urlsplit(website)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(website) > URI_LIMIT:
            raise unprocessable("Website is invalid", "website")
    client_secret = new_secret()
    app = OAuthApp(name=name, website=website, client_id=new_secret(), client_secret_hash=hash_secret(client_secret),
                   redirect_uris="\n".join(uris), scopes=" ".join(scopes))
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session, session.begin():
        session.add(app)
    return JSONResponse(app_to_api(app, runtime.settings, client_secret))


async def verify_credentials(request: Request) -> JSONResponse:
    """The app behind the token: any valid token works, with or without a user (Mastodon 4.3)."""
    identity = await authenticate(request, user=False)
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        app = await session.get(OAuthApp, identity.app_id) if identity.app_id else None
    if app is None:
        raise ApiError(404, "Record not found")
    return JSONResponse(app_to_api(app, runtime.settings))


routes: list[BaseRoute] = [
    Route("/api/v1/apps", create_app, methods=["POST"]),
    Route("/api/v1/apps/verify_credentials", verify_credentials, methods=["GET"]),
]
