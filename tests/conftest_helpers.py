"""Helpers shared by conftest.py and the live-instance harness (importable from both)."""

from __future__ import annotations

from pathlib import Path

from fediverse.config import Settings, ensure_secret_key, load_settings


def make_settings(tmp_path: Path, domain: str = "commune-a.test", **overrides: object) -> Settings:
    """Settings for a test instance whose data lives in tmp_path (nothing read from os.environ)."""
    values: dict[str, object] = {"domain": domain, "data_dir": tmp_path, "worker_poll_seconds": 0.2,
                                 "delivery_retry_base_seconds": 0.05}
    values.update(overrides)
    return ensure_secret_key(load_settings(environ={}, **values))
