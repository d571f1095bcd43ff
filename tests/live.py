"""Live instances of our server for federation tests: real uvicorn, real TLS, own host names.

Each instance runs in the test's event loop on 127.0.0.x:443 with a certificate from the
session's test CA, so requests between instances are real HTTPS over loopback.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trustme
import uvicorn
from aiohttp import web

from fediverse.app import create_app
from fediverse.config import Settings
from fediverse.runtime import Runtime
from tests.conftest_helpers import make_settings

TEST_HOSTS = {
    "commune-a.test": "127.0.0.2",
    "commune-b.test": "127.0.0.3",
    "bovine-a.test": "127.0.0.4",
    "commune-c.test": "127.0.0.5",
}


class LiveInstance:
    """One instance of our server, startable and stoppable (its data survives a restart)."""

    def __init__(self, domain: str, data_dir: Path, ca: trustme.CA, cert_dir: Path, **overrides: Any) -> None:
        self.domain = domain
        self.ip = TEST_HOSTS[domain]
        self.data_dir = data_dir
        self.settings: Settings = make_settings(
            data_dir, domain=domain, allowed_private_hosts=list(TEST_HOSTS), **overrides)
        cert = ca.issue_cert(domain)
        self.certfile = cert_dir / f"{domain}.pem"
        self.keyfile = cert_dir / f"{domain}.key"
        cert.private_key_pem.write_to_path(str(self.keyfile))
        cert.cert_chain_pems[0].write_to_path(str(self.certfile))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(self.certfile), append=True)
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None
        self.app: Any = None

    @property
    def base_url(self) -> str:
        return f"https://{self.domain}"

    @property
    def runtime(self) -> Runtime:
        return self.app.state.runtime

    async def start(self) -> None:
        self.app = create_app(self.settings)
        config = uvicorn.Config(self.app, host=self.ip, port=443, ssl_certfile=str(self.certfile),
                                ssl_keyfile=str(self.keyfile), lifespan="on", log_level="warning",
                                access_log=False, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 30
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise RuntimeError(f"{self.domain} stopped during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.domain} did not start")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await asyncio.wait_for(self.task, timeout=30)
        self.server = None
        self.task = None


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 15.0, what: str = "condition") -> Any:
    """Poll an async check until it returns something truthy (federation is asynchronous)."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last value: {last!r})")


@asynccontextmanager
async def serve_on_test_host(app: web.Application, ca: trustme.CA, host: str = "commune-c.test", *,
                             backlog: int = 128) -> AsyncIterator[None]:
    """Serve a small aiohttp app (a fake Mobilizon, Gancio, relay...) over TLS from the test CA on a test
    host's loopback address, port 443, for the time of the block."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host).configure_cert(context)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, TEST_HOSTS[host], 443, ssl_context=context, backlog=backlog).start()
    try:
        yield
    finally:
        await runner.cleanup()
