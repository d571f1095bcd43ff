"""Typed settings read from FEDIVERSE_* environment variables and an optional TOML file.

Nothing here does I/O at import time: `load_settings()` is called by the CLI and the app
factory, so tests can build several independent instances in one process.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "FEDIVERSE_"


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the setting."""


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected 0/1, got {value!r}")


def _parse_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip().lower() for v in value if str(v).strip()]
    return [part.strip().lower() for part in str(value).split(",") if part.strip()]


@dataclass(frozen=True)
class Settings:
    domain: str = "localhost:8000"
    data_dir: Path = Path("./data")
    database_url: str = ""
    secret_key: str = ""
    insecure_http: bool = False
    authorized_fetch: bool = False
    allowed_private_hosts: list[str] = field(default_factory=list)
    media_url: str = ""
    registration: str = "approval"
    trusted_proxies: list[str] = field(default_factory=list)
    language: str = "fr"
    instance_name: str = ""
    territory_name: str = ""
    # Inbox and delivery tuning; the defaults are the production values.
    max_body_bytes: int = 1_000_000
    signature_max_age_seconds: int = 12 * 3600
    signature_max_future_seconds: int = 3600
    remote_actor_max_age_seconds: int = 24 * 3600
    delivery_concurrency: int = 32
    delivery_per_host: int = 4
    delivery_max_attempts: int = 16
    delivery_retry_base_seconds: float = 15.0
    worker_poll_seconds: float = 1.0
    run_workers: bool = True
    http_timeout_seconds: float = 10.0
    api_rate_limit: int = 300
    # Outgoing mail (sign-up confirmation, password reset). No host: links are written to the log.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_starttls: bool = False
    # The agenda's map: a Leaflet tile URL template ({z}/{x}/{y}); empty shows the map without tiles.
    map_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_attribution: str = "© OpenStreetMap"

    @property
    def scheme(self) -> str:
        """Ids are https in production; http only when the test/dev switch is on for localhost."""
        if self.insecure_http and (self.domain.startswith("localhost") or self.domain.startswith("127.")):
            return "http"
        return "https"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.domain}"

    @property
    def host(self) -> str:
        """The domain without a port: the part used in acct: handles is the full domain."""
        return self.domain.split(":")[0]


_FIELD_TYPES = {f.name: f.type for f in fields(Settings)}


def _coerce(name: str, value: Any) -> Any:
    kind = _FIELD_TYPES[name]
    try:
        if kind == "bool":
            return _parse_bool(name, value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "Path":
            return Path(str(value))
        if kind == "list[str]":
            return _parse_list(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: {exc}") from exc
    return str(value)


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
    **overrides: Any,
) -> Settings:
    """Merge TOML file < environment < explicit overrides, then fill derived defaults."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                raw = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"--config {config_file}: {exc}") from exc
        for key, value in raw.items():
            name = key.lower().removeprefix("fediverse_")
            if name not in _FIELD_TYPES:
                raise ConfigError(f"{config_file}: unknown setting {key!r}")
            values[name] = _coerce(name, value)
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX):].lower()
            if name in _FIELD_TYPES and value != "":  # an empty variable means "not set"
                values[name] = _coerce(name, value)
    for name, value in overrides.items():
        values[name] = _coerce(name, value) if not isinstance(value, (Path, list, bool)) else value
    settings = Settings(**values)
    domain = settings.domain.strip().lower().rstrip(".")
    if not domain or "/" in domain or "@" in domain:
        raise ConfigError(f"FEDIVERSE_DOMAIN: {settings.domain!r} is not a host name")
    if settings.registration not in {"open", "approval", "invite", "closed"}:
        raise ConfigError("FEDIVERSE_REGISTRATION: one of open, approval, invite, closed")
    data_dir = settings.data_dir.expanduser().resolve()
    database_url = settings.database_url or f"sqlite+aiosqlite:///{data_dir / 'fediverse.sqlite3'}"
    return replace(settings, domain=domain, data_dir=data_dir, database_url=database_url)


def ensure_secret_key(settings: Settings) -> Settings:
    """Create the data dir and a persistent secret key on first start if none was configured."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.secret_key:
        return settings
    path = settings.data_dir / "secret_key"
    if path.exists():
        key = path.read_text().strip()
    else:
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
    return replace(settings, secret_key=key)
