"""OAuth 2 for Mastodon clients: server metadata (RFC 8414), the authorize pages (login, then consent
with an identity chooser), the token endpoint (code with PKCE, password, client credentials, refresh)
and revocation (RFC 7009).

Codes and tokens are random secrets stored hashed. A token acts as the identity chosen on the consent
page: the user's own actor, or an account their team manages (TeamMember admin/editor), so a team can
post as its association from its own apps without sharing a password.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from fediverse.api.oauth_pages import authorize_page, authorize_submit
from fediverse.api.oauth_tokens import GRANT_TYPES, revoke, token
from fediverse.api.scopes import ALL_SCOPES, TOP_LEVEL
from fediverse.runtime import Runtime


async def authorization_server_metadata(request: Request) -> JSONResponse:
    """RFC 8414 metadata; Mastodon.py reads the endpoints from here and refuses http ones."""
    runtime: Runtime = request.app.state.runtime
    base = runtime.settings.base_url
    granular = sorted(ALL_SCOPES - set(TOP_LEVEL))
    return JSONResponse({
        "issuer": f"{base}/",
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "app_registration_endpoint": f"{base}/api/v1/apps",
        "scopes_supported": [*TOP_LEVEL, *granular],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    })


routes: list[BaseRoute] = [
    Route("/.well-known/oauth-authorization-server", authorization_server_metadata, methods=["GET"]),
    Route("/oauth/authorize", authorize_page, methods=["GET"]),
    Route("/oauth/authorize", authorize_submit, methods=["POST"]),
    Route("/oauth/token", token, methods=["POST"]),
    Route("/oauth/revoke", revoke, methods=["POST"]),
]
