"""The Starlette application factory; its lifespan owns the engine, HTTP client and workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from actors.accounts import ensure_instance_actor
from actors.routes import routes as actor_routes
from fediverse import SOFTWARE_NAME, __version__
from fediverse.api.errors import ApiError, api_error_handler
from fediverse.api.middleware import RateLimit, StripTrailingSlash
from fediverse.api.routes import routes as api_routes
from fediverse.config import Settings, ensure_secret_key
from fediverse.db import create_engine, run_statistics_refresh, session_factory
from fediverse.errors import BodySizeLimit
from fediverse.http import HttpClient
from fediverse.media import MAX_UPLOAD_BYTES, SIZE_LIMITS, run_orphan_media_cleanup
from fediverse.media.documents import download_headers
from fediverse.migrate import upgrade_database
from fediverse.runtime import Runtime, Signer
from fediverse.uris import Uris
from fediverse.web.error_pages import http_error_page, unexpected_error_page
from fediverse.web.routes import routes as web_routes
from fediverse.web.security import HtmlSecurityHeaders
from inbox.ingest import IngestWriter
from inbox.routes import routes as inbox_routes
from inbox.worker import run_inbox_worker
from outbox.ad_commands import run_ad_expiry
from outbox.delivery import run_delivery_worker
from outbox.institutional import run_institutional_expiry
from outbox.scheduled import run_clock_worker
from webfinger.routes import routes as webfinger_routes

log = logging.getLogger(__name__)


async def health(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    from sqlalchemy import func, select

    from fediverse.models import Delivery, IncomingActivity

    async with runtime.sessions() as session:
        pending_in = await session.scalar(
            select(func.count()).select_from(IncomingActivity).where(IncomingActivity.state == "pending"))
        pending_out = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.state == "pending"))
    return JSONResponse({"status": "ok", "database": "ok", "version": __version__,
                         "queues": {"inbox_pending": pending_in, "delivery_pending": pending_out}})


async def start_runtime(settings: Settings) -> Runtime:
    """Open the database (migrating it), the instance actor and the HTTP client."""
    settings = ensure_secret_key(settings)
    engine = create_engine(settings.database_url)
    await upgrade_database(engine)
    runtime = Runtime(settings=settings, engine=engine, sessions=session_factory(engine), uris=Uris(settings))
    try:
        async with runtime.sessions() as session, session.begin():
            instance = await ensure_instance_actor(session, runtime.uris)
    except IntegrityError:  # another process (serve --workers N) created it at the same moment
        async with runtime.sessions() as session, session.begin():
            instance = await ensure_instance_actor(session, runtime.uris)
    assert instance.public_key_id and instance.private_key_pem
    runtime.instance_signer = Signer(instance.public_key_id, instance.private_key_pem)
    runtime.http = HttpClient(settings, user_agent=f"{SOFTWARE_NAME}/{__version__} (+{settings.base_url}/)")
    await runtime.http.start()
    return runtime


async def stop_runtime(runtime: Runtime) -> None:
    if runtime.http is not None:
        await runtime.http.close()
    await runtime.engine.dispose()


def start_workers(runtime: Runtime, stopping: asyncio.Event) -> list[asyncio.Task[None]]:
    return [
        asyncio.create_task(run_inbox_worker(runtime, stopping), name="inbox-worker"),
        asyncio.create_task(run_delivery_worker(runtime, stopping), name="delivery-worker"),
        asyncio.create_task(run_orphan_media_cleanup(runtime, stopping), name="media-cleanup"),
        asyncio.create_task(run_clock_worker(runtime, stopping), name="clock-worker"),
        asyncio.create_task(run_institutional_expiry(runtime, stopping), name="institutional-expiry"),
        asyncio.create_task(run_ad_expiry(runtime, stopping), name="ad-expiry"),
        asyncio.create_task(run_statistics_refresh(runtime.engine, stopping), name="sqlite-statistics"),
    ]


def upload_caps(settings: Settings) -> dict[str, int]:
    """Upload paths get a body cap sized for their files (file + thumbnail, avatar + header)."""
    media_cap = max(settings.max_body_bytes, MAX_UPLOAD_BYTES + SIZE_LIMITS["image"] + 1_000_000)
    profile_cap = max(settings.max_body_bytes, 2 * SIZE_LIMITS["image"] + 1_000_000)
    # Website forms that carry photos or documents (up to four files, as a status may).
    web_cap = max(settings.max_body_bytes, 4 * SIZE_LIMITS["image"] + 1_000_000)
    return {"/api/v1/media": media_cap, "/api/v2/media": media_cap,
            "/api/v1/accounts/update_credentials": profile_cap, "/settings/profile": profile_cap,
            **{prefix: web_cap for prefix in WEB_UPLOAD_PATHS}}


# Path prefixes of the website's forms that upload files (compose, ads, events).
WEB_UPLOAD_PATHS = ("/statuses", "/annonces", "/agenda", "/events")


async def stop_workers(tasks: list[asyncio.Task[None]], stopping: asyncio.Event) -> None:
    stopping.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await start_runtime(settings)
        ingest = IngestWriter(runtime)
        app.state.runtime = runtime
        app.state.ingest = ingest
        ingest.start()
        stopping = asyncio.Event()
        tasks = start_workers(runtime, stopping) if settings.run_workers else []
        log.info("instance %s ready", runtime.settings.base_url)
        try:
            yield
        finally:
            await ingest.stop()
            await stop_workers(tasks, stopping)
            await stop_runtime(runtime)

    media_dir = settings.data_dir / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    routes = [
        Route("/health", health),
        *webfinger_routes,
        *inbox_routes,
        *actor_routes,
        *api_routes,
        Mount("/static", app=CachedStaticFiles(directory=STATIC_DIR), name="static"),
        Mount("/media", app=CachedStaticFiles(directory=media_dir), name="media"),
        *web_routes,
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(HtmlSecurityHeaders, settings=settings),
            Middleware(StripTrailingSlash),
            Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"],
                       expose_headers=["Link", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]),
            Middleware(RateLimit, limit=settings.api_rate_limit),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, overrides=upload_caps(settings)),
        ],
        exception_handlers={HTTPException: http_error_page, ApiError: api_error_handler,
                            Exception: unexpected_error_page},
    )


STATIC_DIR = Path(__file__).parent / "static"


class CachedStaticFiles(StaticFiles):
    """Static files and media with long caching: their names never change meaning."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(download_headers(str(args[0] if args else kwargs.get("full_path", ""))))
        response.headers.setdefault("Cache-Control", "public, max-age=604800, immutable")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


def create_app_from_env() -> Starlette:
    """Factory for `uvicorn --factory` with several worker processes (settings from the environment)."""
    import os

    from fediverse.config import load_settings

    return create_app(load_settings(config_file=os.environ.get("FEDIVERSE_CONFIG_FILE")))
