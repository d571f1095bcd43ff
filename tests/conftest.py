"""Shared fixtures: a migrated database runtime, local accounts, and (in federation tests) live instances."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy import select

from fediverse.config import Settings
from fediverse.db import create_engine, session_factory
from fediverse.migrate import upgrade_database
from fediverse.runtime import Runtime
from fediverse.uris import Uris
from tests.conftest_helpers import make_settings
from tests.live import TEST_HOSTS, LiveInstance
from tests.peers.bovine_peer import ensure_hosts_entries, restore_hosts


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A Runtime on a fresh migrated SQLite database, without HTTP client or workers."""
    engine = create_engine(settings.database_url)
    await upgrade_database(engine)
    yield Runtime(settings=settings, engine=engine, sessions=session_factory(engine), uris=Uris(settings))
    await engine.dispose()


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[trustme.CA, Path]]:
    """A CA made for this session; every client in the tests (and bovine) trusts it via SSL_CERT_FILE."""
    ca = trustme.CA()
    directory = tmp_path_factory.mktemp("ca")
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(ca_file)
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca_file)  # requests-based clients (Mastodon.py)
    ensure_hosts_entries(TEST_HOSTS)
    yield ca, directory
    if previous is None:
        os.environ.pop("SSL_CERT_FILE", None)
    else:
        os.environ["SSL_CERT_FILE"] = previous
    restore_hosts(TEST_HOSTS)


@pytest.fixture
async def make_instance(
    test_ca: tuple[trustme.CA, Path], tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[LiveInstance]]]:
    """Start live instances on the test host names; all are stopped after the test."""
    started: list[LiveInstance] = []
    ca, cert_dir = test_ca

    async def start(domain: str, **overrides: Any) -> LiveInstance:
        instance = LiveInstance(domain, tmp_path / domain, ca, cert_dir, **overrides)
        await instance.start()
        started.append(instance)
        return instance

    yield start
    for instance in reversed(started):
        await instance.stop()


class ThreadedClient:
    """A synchronous client (Mastodon.py) called from async tests: each call runs in a thread,
    so the live instance in this event loop keeps serving while the client waits."""

    def __init__(self, client: Any) -> None:
        self.sync = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.sync, name)
        if not callable(method):
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


async def issue_token(instance: LiveInstance, actor_id: int, scopes: str = "read write follow push") -> str:
    """An access token for `actor_id` stored the way the OAuth flow stores it (for API tests that
    are not about OAuth itself)."""
    from fediverse.api.auth import hash_secret, new_secret
    from fediverse.models import OAuthToken, User

    token = new_secret()
    async with instance.runtime.sessions() as session, session.begin():
        user_id = await session.scalar(select(User.id).where(User.actor_id == actor_id))
        session.add(OAuthToken(token_hash=hash_secret(token), user_id=user_id, actor_id=actor_id, scopes=scopes))
    return token


@pytest.fixture
async def mastodon_client(make_instance: Any) -> AsyncIterator[Callable[..., Awaitable[ThreadedClient]]]:
    """Mastodon.py logged in as a local actor of a live instance (token issued directly).

    Depends on `make_instance` so its clients are closed before the instances stop: an idle
    kept-alive TLS connection would otherwise hold uvicorn's shutdown.
    """
    from mastodon import Mastodon

    clients: list[Any] = []

    async def make(instance: LiveInstance, actor_id: int, scopes: str = "read write follow push") -> ThreadedClient:
        token = await issue_token(instance, actor_id, scopes)
        client = Mastodon(api_base_url=instance.base_url, access_token=token, version_check_mode="none",
                          request_timeout=30)
        client.session.headers["Connection"] = "close"
        clients.append(client)
        return ThreadedClient(client)

    yield make
    for client in clients:
        client.session.close()


# Files that take longest (a browser, the bovine peer, a thousand joins). With two workers (.ci/run,
# `--dist loadfile`) files are handed out in collection order, so these go first: the run does not end
# with one worker alone on a long file while the other waits.
SLOW_FIRST = ("tests/web/", "tests/test_bovine", "tests/test_participation.py", "tests/api/test_streaming.py",
              "tests/test_teams.py", "tests/test_cli")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(SLOW_FIRST))  # stable: files stay whole
