"""`fediverse groups ...`: interest groups (FEP-1b12) as the instance's administrator runs them.

create / list / members read and write rows; remove-member and remove-post are moderation that
federates (`Reject(Follow)`, `Undo(Announce)`): they queue the activities in the database and the
running server's delivery worker sends them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fediverse.cli import _run, _settings, _with_runtime
from fediverse.config import Settings


def _moderate(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from actors.groups import GroupError
    from outbox.errors import CommandError

    return _with_runtime(settings, work, GroupError, CommandError)


def cmd_groups_create(args: argparse.Namespace) -> int:
    from actors.groups import GroupError, create_group

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        group = await create_group(session, uris, args.name, owner=args.owner, members_only=args.members_only,
                                   approval=args.approval, display_name=args.display_name or "",
                                   commune_insee=args.commune)
        return group.uri

    uri = _run(settings, work, GroupError)
    flags = ["members only" if args.members_only else "public",
             "moderators approve members" if args.approval else "open"]
    print(f"Created group {args.name}@{settings.domain} ({', '.join(flags)}), moderated by {args.owner}: {uri}")
    return 0


def cmd_groups_list(args: argparse.Namespace) -> int:
    from actors.groups import list_groups, moderators

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        return [{"name": group.username, "display_name": group.display_name, "uri": group.uri,
                 "visibility": group.group_visibility or "public", "approval": group.manually_approves_followers,
                 "commune": group.commune_insee, "members": count,
                 "moderators": [actor.username for actor, _ in await moderators(session, group)]}
                for group, count in await list_groups(session)]

    rows = _run(settings, work)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("No groups (create one with `fediverse groups create NAME --owner USER`)")
    for row in rows:
        print(f"{row['name']:<24} {row['visibility']:<8} {'approval' if row['approval'] else 'open':<9} "
              f"{row['members']:>5} members  moderators: {', '.join(row['moderators']) or '-'}")
    return 0


def cmd_groups_members(args: argparse.Namespace) -> int:
    from actors.groups import GroupError, find_group, list_members

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        group = await find_group(session, args.group)
        return [(m.actor.handle(settings.domain), m.role) for m in await list_members(session, group)]

    members = _run(settings, work, GroupError)
    if args.json:
        print(json.dumps([{"handle": handle, "role": role} for handle, role in members], indent=2))
        return 0
    for handle, role in members:
        print(f"{handle:<48} {role}")
    return 0


def cmd_groups_remove_member(args: argparse.Namespace) -> int:
    """The member's Follow is removed; a remote member's server is sent `Reject(Follow)`."""
    from actors.groups import find_group, find_member
    from outbox.commands import Outbox
    from outbox.groups import remove_group_member

    settings = _settings(args)

    async def work(runtime):  # type: ignore[no-untyped-def]
        async with runtime.sessions() as session:
            group = await find_group(session, args.group)
            member = await find_member(session, group, args.handle, settings.domain)
        await remove_group_member(Outbox(runtime), group.id, member.id)
        return member.handle(settings.domain)

    handle = _moderate(settings, work)
    print(f"Removed {handle} from {args.group}")
    return 0


def cmd_groups_remove_post(args: argparse.Namespace) -> int:
    """The group withdraws its re-share (`Undo(Announce)` to members); the author's post stays."""
    from actors.groups import find_group
    from outbox.commands import Outbox
    from outbox.groups import remove_group_post

    settings = _settings(args)

    async def work(runtime):  # type: ignore[no-untyped-def]
        async with runtime.sessions() as session:
            group = await find_group(session, args.group)
        status = await remove_group_post(Outbox(runtime), group.id, args.status_uri)
        return status.uri

    uri = _moderate(settings, work)
    print(f"{args.group} no longer shares {uri}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    groups = sub.add_parser("groups", help="interest groups (FEP-1b12): members join by following")
    groups_sub = groups.add_subparsers(dest="groups_command", required=True)

    create = groups_sub.add_parser("create", help="create a group; the owner becomes its first moderator")
    create.add_argument("name", metavar="NAME")
    create.add_argument("--owner", required=True, metavar="USER", help="local user who moderates it (team admin)")
    create.add_argument("--members-only", action="store_true",
                        help="re-shared posts reach members only (default: public)")
    create.add_argument("--approval", action="store_true", help="moderators approve each new member")
    create.add_argument("--display-name", metavar="TEXT")
    create.add_argument("--commune", metavar="INSEE", help="INSEE code of the group's commune")
    create.set_defaults(func=cmd_groups_create)

    listing = groups_sub.add_parser("list", help="list the local groups")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_groups_list)

    members = groups_sub.add_parser("members", help="moderators, members and pending requests of a group")
    members.add_argument("group", metavar="GROUP")
    members.add_argument("--json", action="store_true")
    members.set_defaults(func=cmd_groups_members)

    remove_member = groups_sub.add_parser("remove-member", help="end a membership (Reject(Follow) to its server)")
    remove_member.add_argument("group", metavar="GROUP")
    remove_member.add_argument("handle", metavar="HANDLE", help="user@domain, or a local username")
    remove_member.set_defaults(func=cmd_groups_remove_member)

    remove_post = groups_sub.add_parser("remove-post", help="withdraw the group's re-share of a post")
    remove_post.add_argument("group", metavar="GROUP")
    remove_post.add_argument("status_uri", metavar="STATUS_URI", help="the post's id (or its web address)")
    remove_post.set_defaults(func=cmd_groups_remove_post)
