"""The Quart app that the bovine peer harness serves with hypercorn.

This module runs inside bovine's OWN virtualenv (see tests/peers/bovine_peer.py), never in
the project's environment: it imports quart and bovine_herd, which are not our dependencies.

Configuration comes from the environment set by the harness:
- BOVINE_DB_URL: tortoise database URL, e.g. ``sqlite:///ABS/PATH/bovine.sqlite3`` (required)
- BOVINE_LOG_LEVEL: Python logging level for bovine's own loggers (default INFO)

The working directory must hold ``bovine_jsonld_cache.sqlite`` (bovine opens it relative to the
current directory at import time), and the network guard (sitecustomize written by the harness)
is already loaded by the interpreter when this module is imported.
"""

from __future__ import annotations

import logging
import os

from bovine_herd import BovineHerd
from quart import Quart

logging.basicConfig(
    level=getattr(logging, os.environ.get("BOVINE_LOG_LEVEL", "INFO").upper(), logging.INFO),
    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
)
# tortoise / aiosqlite are very chatty at DEBUG/INFO and say nothing useful for federation tests.
for _name in ("tortoise", "aiosqlite", "db_client"):
    logging.getLogger(_name).setLevel(logging.WARNING)
# hypercorn writes its own error/access logs to stderr already; don't print them twice.
for _name in ("hypercorn.error", "hypercorn.access"):
    logging.getLogger(_name).propagate = False

app = Quart(__name__)
BovineHerd(app, db_url=os.environ["BOVINE_DB_URL"])
