"""The migrations build exactly the models' schema, and packages import only what is to their left."""

from __future__ import annotations

import ast
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import fediverse.models  # noqa: F401
from fediverse.db import Base
from fediverse.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
# Layer order: the kernel (fediverse), actors, webfinger, outbox, inbox, then the edges and the app.
FORBIDDEN = {
    "fediverse": {"actors", "outbox", "inbox", "webfinger"},
    "actors": {"outbox", "inbox", "webfinger"},
    "webfinger": {"outbox", "inbox"},
    "outbox": {"inbox"},
    "inbox": set(),
}
EDGE_MODULES = {"fediverse/app.py", "fediverse/cli.py"}


async def test_migrations_match_the_models(runtime: Runtime) -> None:
    def diff(connection: object) -> list[object]:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    async with runtime.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _imported_packages(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imported_modules(path)}


def test_packages_respect_the_layer_order() -> None:
    offences = []
    for package, forbidden in FORBIDDEN.items():
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if relative in EDGE_MODULES or relative.startswith(("fediverse/cli", "fediverse/web/", "fediverse/api/",
                                                                "fediverse/migrations/")):
                continue
            if path.name == "routes.py":
                # HTTP edges sit above every domain layer, but never call another edge.
                edges = {m for m in _imported_modules(path) if m.endswith(".routes")}
                if edges:
                    offences.append(f"{relative} imports the edges {sorted(edges)}")
                continue
            bad = _imported_packages(path) & forbidden
            if bad:
                offences.append(f"{relative} imports {sorted(bad)}")
    assert offences == []
