"""Steps shared by the neighbour tests: territories, the `fediverse` CLI run in a thread against a
live instance's data directory, and the neighbour relation between two live instances."""

from __future__ import annotations

import asyncio
import io
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from unittest import mock

from sqlalchemy import select

from actors.territory import EXAMPLES_DIR, import_communes, init_territory, read_communes_file
from fediverse.cli import main
from fediverse.models import Delivery, Neighbour, OutgoingActivity
from outbox.neighbours import NeighbourCommands
from tests.federation_steps import count, first
from tests.live import TEST_HOSTS, LiveInstance, eventually

COUESNON = ("Couesnon Marches de Bretagne", "couesnon-marches-de-bretagne.csv")  # 15 communes
FOUGERES = ("Fougères Agglomération", "fougeres-agglomeration.csv")  # 28 communes


async def set_territory(instance: LiveInstance, territory: tuple[str, str]) -> None:
    name, file_name = territory
    async with instance.runtime.transaction() as session:
        await init_territory(session, name, "intercommunality")
        await import_communes(session, read_communes_file(EXAMPLES_DIR / file_name))


@dataclass
class CliResult:
    code: int
    out: str
    err: str


async def cli(instance: LiveInstance, *args: str) -> CliResult:
    """`fediverse ARGS` as the administrator of `instance` runs it while the server runs: its own
    process state (settings from the environment, own database engine, own HTTP client)."""
    env = {"FEDIVERSE_DOMAIN": instance.domain, "FEDIVERSE_DATA_DIR": str(instance.data_dir),
           "FEDIVERSE_DATABASE_URL": instance.settings.database_url,
           "FEDIVERSE_ALLOWED_PRIVATE_HOSTS": ",".join(TEST_HOSTS)}

    def run() -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        cleared = {k: v for k, v in os.environ.items() if not k.startswith("FEDIVERSE_")}
        with mock.patch.dict(os.environ, {**cleared, **env}, clear=True), redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
        return CliResult(code, out.getvalue(), err.getvalue())

    return await asyncio.to_thread(run)


async def neighbour(instance: LiveInstance, domain: str) -> Neighbour | None:
    return await first(instance, select(Neighbour).where(Neighbour.domain == domain))


async def states(instance: LiveInstance, domain: str) -> tuple[str, str] | None:
    row = await neighbour(instance, domain)
    return (row.outgoing_state, row.incoming_state) if row else None


async def wait_states(instance: LiveInstance, domain: str, expected: tuple[str, str] | None, what: str) -> None:
    async def reached() -> bool:
        return await states(instance, domain) == expected
    await eventually(reached, what=f"{what}: {instance.domain} sees {domain} as {expected}")


async def make_neighbours(a: LiveInstance, b: LiveInstance) -> None:
    """A asks, B accepts (through the domain commands the CLI calls): mutual on both sides."""
    await NeighbourCommands(a.runtime).request_neighbour(b.base_url)
    await wait_states(b, a.domain, ("none", "pending"), "the request")
    await NeighbourCommands(b.runtime).accept_neighbour(a.domain)
    await wait_states(a, b.domain, ("accepted", "accepted"), "the mutual relation")
    await wait_states(b, a.domain, ("accepted", "accepted"), "the mutual relation")


async def deliveries_to(instance: LiveInstance, host: str, object_uri: str) -> int:
    """Deliveries `instance` queued to `host` for activities about `object_uri` (sent or not)."""
    return await count(instance, Delivery, Delivery.host == host, Delivery.activity_id.in_(
        select(OutgoingActivity.id).where(OutgoingActivity.object_uri == object_uri)))
