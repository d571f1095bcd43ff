"""Shared fixtures: a migrated database runtime, local accounts, and (in federation tests) live instances."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

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
