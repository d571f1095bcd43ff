"""The `fediverse` command as an administrator runs it: separate processes, real files, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDIVERSE_")}
    env.update({"FEDIVERSE_DATA_DIR": str(data_dir), "FEDIVERSE_DOMAIN": "localhost:8000"}, **extra)
    return env


def _run(data_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fediverse", *args], env=_env(data_dir, **extra),
                          capture_output=True, text=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, process: subprocess.Popen[str], within: float = 60) -> bytes:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read() if process.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_db_upgrade_creates_a_wal_sqlite_database_and_is_idempotent(tmp_path: Path) -> None:
    first = _run(tmp_path, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    again = _run(tmp_path, "db", "upgrade")
    assert again.returncode == 0, again.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "fediverse.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert (tmp_path / "secret_key").read_text().strip()


def test_accounts_create_and_list(tmp_path: Path) -> None:
    made = _run(tmp_path, "accounts", "create", "mairie", "--email", "contact@mairie.fr", "--password",
                "un mot de passe", "--kind", "collectivity", "--commune", "35051", "--admin")
    assert made.returncode == 0, made.stderr
    assert "https://localhost:8000/users/mairie" in made.stdout
    generated = _run(tmp_path, "accounts", "create", "lea", "--email", "lea@example.fr")
    assert generated.returncode == 0 and "Password: " in generated.stdout
    listed = _run(tmp_path, "accounts", "list", "--json")
    rows = {row["username"]: row for row in json.loads(listed.stdout)}
    assert rows["mairie"] == {"username": "mairie", "email": "contact@mairie.fr", "kind": "collectivity",
                              "admin": True, "commune": "35051", "uri": "https://localhost:8000/users/mairie"}
    assert rows["lea"]["kind"] == "resident"


def test_accounts_create_refuses_bad_input_with_a_clear_message(tmp_path: Path) -> None:
    bad_name = _run(tmp_path, "accounts", "create", "no spaces", "--email", "a@b.fr", "--password", "12345678")
    assert bad_name.returncode == 2 and "username" in bad_name.stderr
    _run(tmp_path, "accounts", "create", "lea", "--email", "lea@example.fr", "--password", "12345678")
    taken = _run(tmp_path, "accounts", "create", "Lea", "--email", "x@example.fr", "--password", "12345678")
    assert taken.returncode == 2 and "already taken" in taken.stderr
    short = _run(tmp_path, "accounts", "create", "max", "--email", "m@example.fr", "--password", "court")
    assert short.returncode == 2 and "password" in short.stderr


def test_bad_configuration_is_reported_not_a_traceback(tmp_path: Path) -> None:
    result = _run(tmp_path, "db", "upgrade", FEDIVERSE_REGISTRATION="sometimes")
    assert result.returncode == 2 and "FEDIVERSE_REGISTRATION" in result.stderr
    config = tmp_path / "bad.toml"
    config.write_text("FEDIVERSE_DOMAIN = [1\n")
    result = _run(tmp_path, "--config", str(config), "db", "upgrade")
    assert result.returncode == 2 and "bad.toml" in result.stderr


def test_config_file_is_read(tmp_path: Path) -> None:
    config = tmp_path / "instance.toml"
    config.write_text('FEDIVERSE_DOMAIN = "ma-commune.test"\n')
    env_less = _run(tmp_path, "--config", str(config), "accounts", "create", "lea", "--email", "l@x.fr",
                    "--password", "12345678", FEDIVERSE_DOMAIN="")
    assert "https://ma-commune.test/users/lea" in env_less.stdout, env_less.stderr


@pytest.mark.slow
def test_quickstart_prints_an_admin_login_and_serves_the_instance(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path, FEDIVERSE_DOMAIN=f"localhost:{port}", FEDIVERSE_INSECURE_HTTP="1")
    process = subprocess.Popen([sys.executable, "-m", "fediverse", "quickstart", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        health = json.loads(_wait_http(f"http://127.0.0.1:{port}/health", process))
        assert health["status"] == "ok"
        jrd = json.loads(_wait_http(
            f"http://127.0.0.1:{port}/.well-known/webfinger?resource=acct:admin@localhost:{port}", process))
        assert jrd["links"][0]["href"] == f"http://localhost:{port}/users/admin"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert "Admin login: admin@localhost" in output
    assert "Password:" in output


@pytest.mark.slow
def test_worker_command_runs_until_terminated(tmp_path: Path) -> None:
    assert _run(tmp_path, "db", "upgrade").returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "fediverse", "worker"], env=_env(tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        line = ""
        while "Workers running" not in line and time.monotonic() < deadline:
            line = process.stdout.readline() if process.stdout else ""
            assert process.poll() is None or "Workers running" in line
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
