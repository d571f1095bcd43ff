"""`fediverse neighbours ...`: neighbour instances and relay subscriptions, run by the administrator.

Commands that talk to other instances (add, accept, reject, remove) open the instance's runtime
(database, instance actor key, HTTP client) for the time of the command; the activities they queue
are sent by the delivery worker of the running server, which polls the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fediverse.cli import _settings, _with_runtime, _with_session


def _run_command(args: argparse.Namespace, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run a neighbour command with a full runtime; the domain's refusals become `error: …` (exit 2)."""
    from actors.neighbours import NeighbourError
    from outbox.errors import CommandError

    return _with_runtime(_settings(args), work, NeighbourError, CommandError)


def _describe(change: Any) -> str:
    sent = ", ".join(change.sent) or "nothing new to send"
    text = f"{change.domain} ({change.kind}): we follow them: {change.outgoing_state}; " \
           f"they follow us: {change.incoming_state} [{sent}]"
    if getattr(change, "communes", None) is not None:
        text += f"; {change.communes} communes known"
    return text


def cmd_add(args: argparse.Namespace) -> int:
    from outbox.neighbours import NeighbourCommands

    change = _run_command(args, lambda runtime: NeighbourCommands(runtime).request_neighbour(args.address))
    print(f"Neighbour request: {_describe(change)}")
    return 0


def cmd_accept(args: argparse.Namespace) -> int:
    from outbox.neighbours import NeighbourCommands

    change = _run_command(args, lambda runtime: NeighbourCommands(runtime).accept_neighbour(args.domain))
    print(f"Accepted: {_describe(change)}")
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    from outbox.neighbours import NeighbourCommands

    change = _run_command(args, lambda runtime: NeighbourCommands(runtime).reject_neighbour(args.domain))
    print(f"Rejected: {_describe(change)}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from outbox.neighbours import NeighbourCommands

    change = _run_command(args, lambda runtime: NeighbourCommands(runtime).remove_neighbour(args.domain))
    print(f"Removed {change.domain} [{', '.join(change.sent) or 'nothing to send'}]")
    return 0


def _listing(args: argparse.Namespace, *, pending_only: bool) -> list[Any]:
    from actors.neighbours import list_neighbours

    async def work(session, uris):  # type: ignore[no-untyped-def]
        return await list_neighbours(session, pending_only=pending_only)

    return asyncio.run(_with_session(_settings(args), work))


def cmd_pending(args: argparse.Namespace) -> int:
    rows = _listing(args, pending_only=True)
    if args.json:
        print(json.dumps([row.as_json() for row in rows], indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("No pending neighbour or relay requests")
    for row in rows:
        print(f"{row.domain:<32} {row.kind:<9} {row.actor_uri}  (`fediverse neighbours accept {row.domain}`)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    rows = _listing(args, pending_only=False)
    if args.json:
        print(json.dumps([row.as_json() for row in rows], indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("No neighbours (add one with `fediverse neighbours add https://other-instance`)")
        return 0
    print(f"{'domain':<32} {'kind':<9} {'we follow':<10} {'they follow':<12} {'communes':>8}  territory")
    for row in rows:
        print(f"{row.domain:<32} {row.kind:<9} {row.outgoing_state:<10} {row.incoming_state:<12} "
              f"{row.communes:>8}  {row.territory_name or '-'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    neighbours = sub.add_parser("neighbours", help="neighbour territory instances and relays (explicit consent)")
    nb_sub = neighbours.add_subparsers(dest="neighbours_command", required=True)
    add = nb_sub.add_parser("add", help="ask an instance to become our neighbour (our instance actor follows theirs)")
    add.add_argument("address", metavar="URL", help="https://other-instance, a bare domain, or its instance actor URL")
    add.set_defaults(func=cmd_add)
    pending = nb_sub.add_parser("pending", help="instances and relays waiting for our answer")
    pending.add_argument("--json", action="store_true")
    pending.set_defaults(func=cmd_pending)
    accept = nb_sub.add_parser("accept", help="accept a request (and follow the instance back)")
    accept.add_argument("domain", metavar="DOMAIN")
    accept.set_defaults(func=cmd_accept)
    reject = nb_sub.add_parser("reject", help="refuse a request (or stop sending to an accepted one)")
    reject.add_argument("domain", metavar="DOMAIN")
    reject.set_defaults(func=cmd_reject)
    listing = nb_sub.add_parser("list", help="every neighbour and relay, with the consent in each direction")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)
    remove = nb_sub.add_parser("remove", help="end the relation (Undo our Follow, Reject theirs) and forget it")
    remove.add_argument("domain", metavar="DOMAIN")
    remove.set_defaults(func=cmd_remove)
