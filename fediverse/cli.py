"""The `fediverse` command: serve, worker, db upgrade, accounts, teams, announcements, territory, quickstart."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from fediverse.config import ConfigError, Settings, ensure_secret_key, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    return ensure_secret_key(load_settings(config_file=args.config))


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    from fediverse.migrate import upgrade_database_sync

    upgrade_database_sync(settings.database_url)
    ssl = {}
    if args.ssl_certfile:
        ssl = {"ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile}
    if args.workers > 1:
        # Each process rebuilds its settings from the environment (and the same config file).
        if args.config:
            os.environ["FEDIVERSE_CONFIG_FILE"] = os.path.abspath(args.config)
        uvicorn.run("fediverse.app:create_app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, proxy_headers=False, log_level=args.log_level,
                    timeout_graceful_shutdown=10, **ssl)
        return 0
    from fediverse.app import create_app

    print(f"Serving {settings.base_url} on {args.host}:{args.port}", flush=True)
    # Open streaming connections must not hold a shutdown forever.
    uvicorn.run(create_app(settings), host=args.host, port=args.port, proxy_headers=False,
                log_level=args.log_level, timeout_graceful_shutdown=10, **ssl)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from fediverse.app import start_runtime, start_workers, stop_runtime, stop_workers

    settings = replace(_settings(args), run_workers=True)

    async def main() -> None:
        runtime = await start_runtime(settings)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        tasks = start_workers(runtime, stopping)
        print(f"Workers running for {settings.base_url}", flush=True)
        await stopping.wait()
        await stop_workers(tasks, stopping)
        await stop_runtime(runtime)

    asyncio.run(main())
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from fediverse.migrate import upgrade_database_sync

    settings = _settings(args)
    upgrade_database_sync(settings.database_url)
    print(f"Database up to date: {settings.database_url}")
    return 0


class CliError(Exception):
    """A refusal from the domain layer, shown to the administrator as `error: …` (exit status 2)."""


def _run(settings: Settings, work, *refusals: type[Exception]):  # type: ignore[no-untyped-def]
    """Run `work(session, uris)` in one transaction; the domain's refusals become a CliError."""
    try:
        return asyncio.run(_with_session(settings, work))
    except refusals as exc:
        raise CliError(str(exc)) from exc


async def _with_session(settings: Settings, work):  # type: ignore[no-untyped-def]
    from fediverse.db import create_engine, session_factory
    from fediverse.migrate import upgrade_database
    from fediverse.uris import Uris

    engine = create_engine(settings.database_url)
    try:
        await upgrade_database(engine)
        async with session_factory(engine)() as session, session.begin():
            return await work(session, Uris(settings))
    finally:
        await engine.dispose()


def cmd_accounts_create(args: argparse.Namespace) -> int:
    from actors.accounts import AccountError, create_account

    settings = _settings(args)
    password = args.password or secrets.token_urlsafe(12)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        actor, _user = await create_account(
            session, uris, args.username, email=args.email, password=password, kind=args.kind,
            commune_insee=args.commune, theme=args.theme, is_admin=args.admin, display_name=args.display_name or "",
        )
        return actor.uri

    uri = _run(settings, work, AccountError)
    print(f"Created {args.username}@{settings.domain} ({args.kind}{', admin' if args.admin else ''}): {uri}")
    if not args.password:
        print(f"Password: {password}")
    return 0


def cmd_accounts_update(args: argparse.Namespace) -> int:
    """Move an account to another commune or change its directory theme ("" clears)."""
    from actors.accounts import AccountError, update_account_settings

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        actor = await update_account_settings(session, args.username, commune_insee=args.commune, theme=args.theme)
        return actor.username, actor.commune_insee, actor.theme

    username, commune, theme = _run(settings, work, AccountError)
    print(f"Updated {username}@{settings.domain}: commune {commune or '-'}, theme {theme or '-'}")
    return 0


def cmd_accounts_list(args: argparse.Namespace) -> int:
    from fediverse.models import Actor, User

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        rows = await session.execute(
            select(Actor, User).join(User, User.actor_id == Actor.id).order_by(Actor.username_lower))
        return [(a, u) for a, u in rows]

    rows = asyncio.run(_with_session(settings, work))
    if args.json:
        print(json.dumps([{"username": a.username, "email": u.email, "kind": a.kind, "admin": u.is_admin,
                           "commune": a.commune_insee, "uri": a.uri} for a, u in rows], indent=2))
        return 0
    for actor, user in rows:
        flags = " admin" if user.is_admin else ""
        print(f"{actor.username:<24} {actor.kind:<13} {user.email:<32} {actor.commune_insee or '-':<6}{flags}")
    return 0


def cmd_accounts_verify(args: argparse.Namespace) -> int:
    """Mark an official, association, shop or collectivity account verified (or clear it with --undo)."""
    from actors.verification import VerificationError, verify_account

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        actor = await verify_account(session, args.username, verified=not args.undo)
        return actor.username, actor.kind

    username, kind = _run(settings, work, VerificationError)
    print(f"{'Unverified' if args.undo else 'Verified'} {username}@{settings.domain} ({kind})")
    return 0


def cmd_teams_add(args: argparse.Namespace) -> int:
    """Instance-admin path: the user becomes an active member at once (no invitation to accept)."""
    from actors.teams import TeamError, add_member, team_account, user_named

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        team = await team_account(session, args.account)
        row = await add_member(session, team, await user_named(session, args.user), args.role, active=True)
        return team.username, row.role

    team, role = _run(settings, work, TeamError)
    print(f"{args.user} is now {role} of {team}@{settings.domain}")
    return 0


def cmd_teams_list(args: argparse.Namespace) -> int:
    from actors.teams import TeamError, list_members, team_account

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        return [(m.actor.username, m.membership.role, m.membership.state)
                for m in await list_members(session, await team_account(session, args.account))]

    members = _run(settings, work, TeamError)
    if args.json:
        print(json.dumps([{"username": u, "role": r, "state": s} for u, r, s in members], indent=2))
        return 0
    if not members:
        print(f"{args.account} has no team (add one with `fediverse teams add {args.account} USER --role admin`)")
    for username, role, state in members:
        print(f"{username:<24} {role:<8} {state}")
    return 0


def cmd_teams_remove(args: argparse.Namespace) -> int:
    """Remove a member (or withdraw an invitation): their apps lose access to the account at once."""
    from actors.teams import TeamError, remove_member, team_account, user_named

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        team = await team_account(session, args.account)
        return await remove_member(session, team, await user_named(session, args.user))

    revoked = _run(settings, work, TeamError)
    print(f"Removed {args.user} from {args.account}'s team ({revoked} app token(s) revoked)")
    return 0


def cmd_teams_role(args: argparse.Namespace) -> int:
    from actors.teams import TeamError, change_role, team_account, user_named

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        team = await team_account(session, args.account)
        await change_role(session, team, await user_named(session, args.user), args.role)

    try:
        asyncio.run(_with_session(settings, work))
    except TeamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.user} is now {args.role} of {args.account}")
    return 0


def _with_runtime(settings: Settings, work, *refusals: type[Exception]):  # type: ignore[no-untyped-def]
    """Run `work(runtime)` with a full runtime (outbox commands need one); refusals become a CliError.

    Activities it queues are delivered by the server's delivery worker, which polls the database.
    """
    from fediverse.app import start_runtime, stop_runtime

    async def main():  # type: ignore[no-untyped-def]
        runtime = await start_runtime(settings)
        try:
            return await work(runtime)
        finally:
            await stop_runtime(runtime)

    try:
        return asyncio.run(main())
    except refusals as exc:
        raise CliError(str(exc)) from exc


def cmd_announcements_create(args: argparse.Namespace) -> int:
    """Publish an institutional message: a public status of the collectivity that federates to its
    followers and neighbours, highlighted for residents (apps' announcements, web home page)."""
    from actors.announcements import AnnouncementError, local_text, parse_moment, parse_theme
    from outbox.institutional import publish_institutional_message

    settings = _settings(args)
    try:
        until = parse_moment(args.until, end_of_day=True) if args.until is not None else None
    except AnnouncementError as exc:
        print(f"error: --until: {exc}", file=sys.stderr)
        return 2
    try:
        theme = parse_theme(args.theme) if args.theme is not None else None
    except AnnouncementError as exc:
        print(f"error: --theme: {exc}", file=sys.stderr)
        return 2

    async def work(runtime):  # type: ignore[no-untyped-def]
        published = await publish_institutional_message(runtime, args.author, args.text, theme=theme,
                                                         urgent=args.urgent, until=until)
        row = published.announcement
        return row.id, row.theme, row.urgent, row.ends_at, local_text(row.ends_at, row.all_day), published

    announcement_id, theme, urgent, ends_at, ends, published = _with_runtime(settings, work, AnnouncementError)
    flags = (f" [{theme}]" if theme else "") + (" (urgent)" if urgent else "")
    print(f"Published announcement {announcement_id}{flags} from {args.author.removeprefix('@')}@{settings.domain}, "
          f"until {'deleted' if ends_at is None else ends}")
    print(f"Status: {published.status.url}{' (pinned)' if published.pinned else ''}")
    return 0


def cmd_announcements_list(args: argparse.Namespace) -> int:
    from actors.announcements import all_announcements, describe_period

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        return await all_announcements(session, include_ended=args.all)

    rows = asyncio.run(_with_session(settings, work))
    if args.json:
        print(json.dumps([{"id": str(s.row.id), "from": s.author.username if s.author else None, "text": s.text,
                           "theme": s.row.theme, "urgent": s.row.urgent, "all_day": s.row.all_day,
                           "starts_at": iso(s.row.starts_at), "ends_at": iso(s.row.ends_at),
                           "published_at": iso(s.row.published_at),
                           "status": (s.status.url or s.status.uri) if s.status else None}
                          for s in rows], indent=2, ensure_ascii=False))
        return 0
    for shown in rows:
        row = shown.row
        text = " ".join(shown.text.split())
        text = text if len(text) <= 60 else text[:59] + "…"
        print(f"{row.id:<20} {'URGENT' if row.urgent else '':<6} {row.theme or '-':<13} "
              f"{shown.author.username if shown.author else '-':<16} {describe_period(row):<36} {text}")
    return 0


def cmd_announcements_delete(args: argparse.Namespace) -> int:
    """Stop highlighting a message (and unpin it); its status stays, delete it from an app to withdraw it."""
    from outbox.institutional import withdraw_announcement

    settings = _settings(args)
    if not args.id.isdigit() or len(args.id) > 19:
        print(f"error: no announcement {args.id}", file=sys.stderr)
        return 2

    async def work(runtime):  # type: ignore[no-untyped-def]
        return await withdraw_announcement(runtime, int(args.id))

    if not _with_runtime(settings, work):
        print(f"error: no announcement {args.id}", file=sys.stderr)
        return 2
    print(f"Deleted announcement {args.id}")
    return 0


def cmd_territory_init(args: argparse.Namespace) -> int:
    """Name the territory the instance serves (run again to rename it or change its kind)."""
    from actors.territory import TerritoryError, init_territory

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        territory = await init_territory(session, args.name, args.kind)
        return territory.name, territory.kind

    name, kind = _run(settings, work, TerritoryError)
    print(f"Territory: {name} ({kind})")
    return 0


def cmd_territory_import(args: argparse.Namespace) -> int:
    """Import communes from a CSV file: all rows are checked first, nothing is written on error."""
    from actors.territory import CsvImportError, TerritoryError, import_communes, read_communes_file

    settings = _settings(args)
    try:
        rows = read_communes_file(args.file)
    except CsvImportError as exc:
        print(f"error: {args.file}: nothing imported\n{exc}", file=sys.stderr)
        return 2
    except TerritoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def work(session, uris):  # type: ignore[no-untyped-def]
        return await import_communes(session, rows)

    result = asyncio.run(_with_session(settings, work))
    unchanged = len(rows) - result.added - result.updated
    print(f"Imported {len(rows)} communes from {args.file}: {result.added} added, {result.updated} updated, "
          f"{unchanged} unchanged")
    return 0


def cmd_territory_show(args: argparse.Namespace) -> int:
    from actors.territory import describe, get_territory, list_communes

    settings = _settings(args)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        return describe(await get_territory(session), await list_communes(session))

    summary = asyncio.run(_with_session(settings, work))
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 0
    if summary["name"] is None:
        print("Territory: not set (run `fediverse territory init --name N --kind commune|intercommunality`)")
    else:
        print(f"Territory: {summary['name']} ({summary['kind']})")
    print(f"Communes: {len(summary['communes'])}")
    for commune in summary["communes"]:
        print(f"  {commune['insee']:<6} {commune['name']:<32} {' '.join(commune['postal_codes']):<12} "
              f"{commune['latitude']:.4f} {commune['longitude']:.4f}")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    """Local trial: migrate, make sure an admin exists (printing its login), then serve."""
    from actors.accounts import create_account, hash_password
    from fediverse.models import User

    settings = _settings(args)
    password = secrets.token_urlsafe(12)

    async def work(session, uris):  # type: ignore[no-untyped-def]
        admin = await session.scalar(select(User).where(User.is_admin.is_(True)).order_by(User.id))
        if admin is None:
            await create_account(session, uris, "admin", email=f"admin@{settings.host}", password=password,
                                 kind="collectivity", is_admin=True, display_name="Administration")
            return f"admin@{settings.host}"
        admin.password_hash = hash_password(password)  # the quick start always prints a working login
        return admin.email

    email = asyncio.run(_with_session(settings, work))
    print("=" * 60)
    print(f"  Admin login: {email}")
    print(f"  Password:    {password}")
    print(f"  Instance:    {settings.base_url}")
    print("=" * 60, flush=True)
    return cmd_serve(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fediverse", description=__doc__)
    parser.add_argument("--config", help="TOML file with settings (keys as FEDIVERSE_* names)",
                        default=os.environ.get("FEDIVERSE_CONFIG_FILE"))
    sub = parser.add_subparsers(dest="command", required=True)

    def add_serve_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--ssl-certfile")
        p.add_argument("--ssl-keyfile")
        p.add_argument("--workers", type=int, default=1, help="web processes (each runs background workers)")
        p.add_argument("--log-level", default="info")

    serve = sub.add_parser("serve", help="web server plus background workers")
    add_serve_options(serve)
    serve.set_defaults(func=cmd_serve)
    quick = sub.add_parser("quickstart", help="create/print an admin login, then serve (local trial)")
    add_serve_options(quick)
    quick.set_defaults(func=cmd_quickstart)

    worker = sub.add_parser("worker", help="background workers only (delivery, inbox processing)")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply pending migrations").set_defaults(func=cmd_db_upgrade)

    accounts = sub.add_parser("accounts", help="local accounts")
    acc_sub = accounts.add_subparsers(dest="accounts_command", required=True)
    create = acc_sub.add_parser("create", help="create an account")
    create.add_argument("username")
    create.add_argument("--email", required=True)
    create.add_argument("--password", help="generated and printed when omitted")
    create.add_argument("--kind", default="resident",
                        choices=["resident", "association", "official", "shop", "collectivity"])
    create.add_argument("--commune", help="INSEE code of the account's commune")
    create.add_argument("--theme", help="directory theme of an association or shop (sport, culture, ...)")
    create.add_argument("--display-name")
    create.add_argument("--admin", action="store_true")
    create.set_defaults(func=cmd_accounts_create)
    update_cmd = acc_sub.add_parser("update", help="change an account's commune or directory theme")
    update_cmd.add_argument("username")
    update_cmd.add_argument("--commune", help="INSEE code of one of the territory's communes ('' clears)")
    update_cmd.add_argument("--theme", help="directory theme ('' clears)")
    update_cmd.set_defaults(func=cmd_accounts_update)
    listing = acc_sub.add_parser("list", help="list local accounts")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_accounts_list)

    verify = acc_sub.add_parser("verify", help="mark an official, association, shop or collectivity verified")
    verify.add_argument("username")
    verify.add_argument("--undo", action="store_true", help="remove the verification")
    verify.set_defaults(func=cmd_accounts_verify)

    teams = sub.add_parser("teams", help="the members who run a shared account (association, shop, town hall)")
    teams_sub = teams.add_subparsers(dest="teams_command", required=True)
    teams_add = teams_sub.add_parser("add", help="make a user a member now (no invitation)")
    teams_add.add_argument("account", metavar="ACCOUNT", help="the association (or other shared account)")
    teams_add.add_argument("user", metavar="USER")
    teams_add.add_argument("--role", default="editor", choices=["admin", "editor"])
    teams_add.set_defaults(func=cmd_teams_add)
    teams_list = teams_sub.add_parser("list", help="members and pending invitations")
    teams_list.add_argument("account", metavar="ACCOUNT")
    teams_list.add_argument("--json", action="store_true")
    teams_list.set_defaults(func=cmd_teams_list)
    teams_remove = teams_sub.add_parser("remove", help="remove a member and revoke their app tokens")
    teams_remove.add_argument("account", metavar="ACCOUNT")
    teams_remove.add_argument("user", metavar="USER")
    teams_remove.set_defaults(func=cmd_teams_remove)
    teams_role = teams_sub.add_parser("role", help="change a member's role")
    teams_role.add_argument("account", metavar="ACCOUNT")
    teams_role.add_argument("user", metavar="USER")
    teams_role.add_argument("role", choices=["admin", "editor"])
    teams_role.set_defaults(func=cmd_teams_role)

    announcements = sub.add_parser("announcements", help="institutional messages of the collectivity")
    ann_sub = announcements.add_subparsers(dest="announcements_command", required=True)
    ann_create = ann_sub.add_parser("create", help="post an institutional message (a public status, highlighted "
                                                   "for residents)")
    ann_create.add_argument("--from", dest="author", required=True, metavar="USER",
                            help="the collectivity account that posts it")
    ann_create.add_argument("--text", required=True, help="plain text; links and hashtags are made clickable")
    ann_create.add_argument("--theme", metavar="THEME",
                            help="jeunesse, emploi, logement, travaux, alerte, culture, environnement, mobilite, "
                                 "sante or securite; its hashtag is added to the text (default: the first theme "
                                 "hashtag of the text; alerte when --urgent)")
    ann_create.add_argument("--urgent", action="store_true", help="an alert, shown before the other messages")
    ann_create.add_argument("--until", metavar="DATE",
                            help="last day (YYYY-MM-DD, to the end of that day) or ISO date and time "
                                 "(Europe/Paris unless an offset is given); without it, shown until deleted "
                                 "(urgent: for 72 hours)")
    ann_create.set_defaults(func=cmd_announcements_create)
    ann_list = ann_sub.add_parser("list", help="list current messages")
    ann_list.add_argument("--all", action="store_true", help="include the ended ones")
    ann_list.add_argument("--json", action="store_true")
    ann_list.set_defaults(func=cmd_announcements_list)
    ann_delete = ann_sub.add_parser("delete", help="stop highlighting a message (its status stays)")
    ann_delete.add_argument("id")
    ann_delete.set_defaults(func=cmd_announcements_delete)

    territory = sub.add_parser("territory", help="the territory the instance serves and its communes")
    ter_sub = territory.add_subparsers(dest="territory_command", required=True)
    ter_init = ter_sub.add_parser("init", help="name the territory and say what it is")
    ter_init.add_argument("--name", required=True, help='e.g. "Couesnon Marches de Bretagne"')
    ter_init.add_argument("--kind", required=True, choices=["commune", "intercommunality"])
    ter_init.set_defaults(func=cmd_territory_init)
    ter_import = ter_sub.add_parser("import", help="add or update communes from a CSV file "
                                                   "(insee,name,postal_code,latitude,longitude)")
    ter_import.add_argument("file", metavar="FILE.csv")
    ter_import.set_defaults(func=cmd_territory_import)
    ter_show = ter_sub.add_parser("show", help="print the territory and its communes")
    ter_show.add_argument("--json", action="store_true")
    ter_show.set_defaults(func=cmd_territory_show)

    from fediverse import cli_groups, cli_neighbours  # they import this module's helpers

    cli_neighbours.register(sub)
    cli_groups.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
