"""A real, independent ActivityPub server (bovine-herd) as a federation peer for integration tests.

Everything stays on this machine: bovine is served by hypercorn on a loopback address (default
``127.0.0.4:443``) under a test host name (default ``bovine-a.test``, added to /etc/hosts), with a
TLS certificate from a ``trustme`` test CA, and it trusts only that CA (``SSL_CERT_FILE``).

bovine lives in its OWN virtualenv (its pins clash with ours), created on demand by
:func:`ensure_bovine_venv` in ``$FEDIVERSE_BOVINE_VENV`` or ``<repo>/.cache/bovine-venv``.
Since bovine's client library lives in that other venv, the peer operations
(:meth:`BovinePeer.send_to_outbox`, :meth:`BovinePeer.fetch`, ...) run a small script there in a
subprocess, bounded by a timeout; reading bovine's collections (inbox, outbox, followers,
following) is done directly from its SQLite store, in this process.

Every bovine process runs with a network guard (a ``sitecustomize`` audit hook): a DNS lookup of
a name that /etc/hosts does not map to a loopback address, or a connection to a non-loopback
address, is refused and recorded; :meth:`BovinePeer.network_violations` lists those records.

Typical use (synchronous API; from async tests use ``await peer.aio.METHOD(...)``, which runs it
in a thread, never the blocking call on the loop that serves our own instance)::

    ca = trustme.CA()
    with BovinePeer(ca=ca) as peer:          # host bovine-a.test, ip 127.0.0.4
        peer.actor_id                        # https://bovine-a.test/endpoints/<token>
        peer.follow("https://commune-a.test/users/mairie")
        peer.create_note("Bonjour", to=[PUBLIC], cc=[peer.followers_url])
        peer.wait_for_inbox(lambda a: a["type"] == "Accept")

Other fixtures can share the /etc/hosts helper: ``ensure_hosts_entries({"commune-a.test":
"127.0.0.2"})`` and ``restore_hosts(["commune-a.test"])``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]  # tests/peers/bovine_peer.py -> <repo>
APP_FILE = HERE / "bovine_app.py"
DEFAULT_VENV_DIR = REPO_ROOT / ".cache" / "bovine-venv"
JSONLD_CACHE_SOURCE = REPO_ROOT.parent / "shared" / "testing" / "bovine_jsonld_cache.sqlite"
JSONLD_CACHE_NAME = "bovine_jsonld_cache.sqlite"

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"

# The full set resolved by `pip install bovine-herd bovine-tool hypercorn` (2026-11), pinned so that
# every machine gets the same peer. Changing this list rebuilds the venv (the marker holds a hash).
BOVINE_REQUIREMENTS: tuple[str, ...] = (
    "bovine==0.5.19",
    "bovine-herd==0.5.19",
    "bovine-process==0.5.19",
    "bovine-store==0.5.19",
    "bovine-tool==0.5.6",
    "Hypercorn==0.18.0",
    "aiodns==3.6.1",
    "aiofiles==25.1.0",
    "aiohappyeyeballs==2.7.1",
    "aiohttp==3.14.5",
    "aiosignal==1.4.0",
    "aiosqlite==0.20.0",
    "annotated-types==0.8.0",
    "asyncpg==0.32.0",
    "asyncstdlib==3.14.0",
    "attrs==26.1.0",
    "based58==0.1.1",
    "beautifulsoup4==4.15.0",
    "blinker==1.9.0",
    "cachetools==8.0.1",
    "certifi==2026.10.18",
    "cffi==2.1.1",
    "charset-normalizer==3.5.2",
    "click==8.5.1",
    "cryptography==45.0.7",
    "Flask==3.1.3",
    "frozendict==2.5.1",
    "frozenlist==1.8.0",
    "h11==0.16.0",
    "h2==4.4.1",
    "hpack==4.2.0",
    "http-sf==1.5.0",
    "hyperframe==6.1.0",
    "idna==3.20",
    "iso8601==2.1.0",
    "itsdangerous==2.2.0",
    "jcs==0.2.1",
    "Jinja2==3.1.6",
    "lxml==6.1.3",
    "MarkupSafe==3.0.4",
    "multidict==7.2.1",
    "priority==2.0.0",
    "propcache==0.5.4",
    "pycares==4.11.0",
    "pycparser==3.12",
    "pydantic==2.14.3",
    "pydantic_core==2.50.4",
    "PyLD==2.0.4",
    "pypika-tortoise==0.2.2",
    "pytz==2026.6",
    "Quart==0.19.9",
    "requests==2.34.2",
    "soupsieve==4.1.2",
    "tomli_w==1.2.0",
    "tortoise-orm==0.21.7",
    "typing-inspection==0.4.5",
    "typing_extensions==4.16.0",
    "urllib3==2.8.0",
    "Werkzeug==3.1.9",
    "wsproto==1.3.2",
    "yarl==1.25.1",
)

VENV_MARKER = ".fediverse-bovine-ready.json"

# Environment variables never passed on to bovine's processes (or to pip): they would point them
# at our venv, at a proxy, or at the wrong certificates.
_SCRUBBED_ENV = {
    "VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONSAFEPATH",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
}


class BovineVenvError(RuntimeError):
    """bovine's virtualenv could not be created."""


class BovineVenvUnavailable(BovineVenvError):
    """bovine's virtualenv could not be created because the package index is unreachable."""


class BovinePeerError(RuntimeError):
    """The bovine peer failed to start or an operation on it failed."""


class HostsConflictError(RuntimeError):
    """/etc/hosts already maps a test host name to another address."""


# --------------------------------------------------------------------------------------------
# The virtualenv
# --------------------------------------------------------------------------------------------

#: Seconds the last venv build in this process took (None if the venv was already there).
LAST_VENV_BUILD_SECONDS: float | None = None

_NETWORK_ERROR_PATTERNS = (
    "Failed to establish a new connection",
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Name or service not known",
    "nodename nor servname",
    "Network is unreachable",
    "No route to host",
    "Connection refused",
    "ConnectTimeoutError",
    "Read timed out",
    "ProxyError",
    "Max retries exceeded",
    "Could not fetch URL",
    # Every pinned package exists on PyPI: "no versions at all" means no index answered.
    "(from versions: none)",
)


def bovine_venv_dir() -> Path:
    """Where bovine's venv lives: ``$FEDIVERSE_BOVINE_VENV`` or ``<repo>/.cache/bovine-venv``."""
    configured = os.environ.get("FEDIVERSE_BOVINE_VENV")
    return Path(configured).expanduser().resolve() if configured else DEFAULT_VENV_DIR


def _requirements_fingerprint() -> str:
    text = "\n".join(BOVINE_REQUIREMENTS) + f"\npython={sys.version_info[0]}.{sys.version_info[1]}"
    return hashlib.sha256(text.encode()).hexdigest()


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _venv_ready(venv: Path) -> bool:
    try:
        marker = json.loads((venv / VENV_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("fingerprint") == _requirements_fingerprint() and _venv_python(venv).exists()


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}


def ensure_bovine_venv(venv_dir: str | os.PathLike[str] | None = None, *, timeout: float = 900.0) -> Path:
    """Return bovine's venv, creating it first if needed (idempotent, safe across processes).

    A venv cannot be moved once made (its scripts hold absolute paths), so instead of a
    temporary directory and a rename it is built in place under an exclusive lock
    (``<venv>.lock``) and only counts as ready once the marker file ``.fediverse-bovine-ready.json``
    (written last, atomically, holding a hash of :data:`BOVINE_REQUIREMENTS`) is there. A half-built
    venv or one built from other pins is deleted and rebuilt.

    Raises :class:`BovineVenvUnavailable` if pip could not reach the package index, and
    :class:`BovineVenvError` for any other failure.
    """
    global LAST_VENV_BUILD_SECONDS
    venv = Path(venv_dir).expanduser().resolve() if venv_dir else bovine_venv_dir()
    if _venv_ready(venv):
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    lock_path = venv.parent / (venv.name + ".lock")
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process building it: wait for it
        try:
            if _venv_ready(venv):
                return venv
            if venv.exists() or venv.is_symlink():
                shutil.rmtree(venv, ignore_errors=True)
            started = time.monotonic()
            deadline = started + timeout
            env = _base_env()
            env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
            python = sys.executable or shutil.which("python3") or "python3"
            try:
                _run_checked([python, "-m", "venv", str(venv)], env=env, timeout=120, what="python -m venv")
                _run_checked(
                    [str(_venv_python(venv)), "-m", "pip", "install", "--no-input", "--progress-bar", "off",
                     *BOVINE_REQUIREMENTS],
                    env=env, timeout=max(30.0, deadline - time.monotonic()), what="pip install (bovine)",
                )
            except BaseException:
                shutil.rmtree(venv, ignore_errors=True)
                raise
            seconds = time.monotonic() - started
            marker = {
                "fingerprint": _requirements_fingerprint(),
                "requirements": list(BOVINE_REQUIREMENTS),
                "python": sys.version,
                "build_seconds": round(seconds, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            tmp = venv / (VENV_MARKER + ".tmp")
            tmp.write_text(json.dumps(marker, indent=2))
            os.replace(tmp, venv / VENV_MARKER)
            LAST_VENV_BUILD_SECONDS = seconds
            return venv
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run_checked(cmd: list[str], *, env: dict[str, str], timeout: float, what: str) -> None:
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        parts = [exc.stdout or "", exc.stderr or ""]
        text = "".join(p.decode(errors="replace") if isinstance(p, bytes) else p for p in parts)
        if any(p in text for p in _NETWORK_ERROR_PATTERNS) or "Retrying" in text:
            raise BovineVenvUnavailable(f"{what} timed out after {timeout:.0f}s; the package index looks "
                                        f"unreachable:\n{_tail(text, 30)}") from exc
        raise BovineVenvError(f"{what} timed out after {timeout:.0f}s:\n{_tail(text, 30)}") from exc
    if proc.returncode != 0:
        output = (proc.stdout or "") + (proc.stderr or "")
        if any(p in output for p in _NETWORK_ERROR_PATTERNS):
            raise BovineVenvUnavailable(f"{what} could not reach the package index "
                                        f"(exit {proc.returncode}):\n"
                                        f"{_tail(output, 30)}")
        raise BovineVenvError(f"{what} failed (exit {proc.returncode}):\n{_tail(output, 40)}")


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------
# /etc/hosts
# --------------------------------------------------------------------------------------------

HOSTS_FILE = Path("/etc/hosts")
HOSTS_MARK = "# added-by-fediverse-tests"
_hosts_added: dict[tuple[Path, str], str] = {}  # (hosts file, host) -> ip of the lines this process owns
_hosts_lock = threading.Lock()
_hosts_atexit_registered = False


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def read_hosts_file(hosts_file: Path = HOSTS_FILE) -> dict[str, str]:
    """Name -> address as the resolver sees it (the first line naming a host wins)."""
    result: dict[str, str] = {}
    try:
        text = hosts_file.read_text()
    except FileNotFoundError:
        return result
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2:
            for name in fields[1:]:
                result.setdefault(name.lower(), fields[0])
    return result


def ensure_hosts_entries(
    mapping: Mapping[str, str], hosts_file: str | os.PathLike[str] = HOSTS_FILE
) -> dict[str, str]:
    """Make sure /etc/hosts has a line ``IP HOST`` for each ``{host: ip}`` of ``mapping``.

    Idempotent; only loopback addresses are accepted. Lines are appended with the comment
    ``# added-by-fediverse-tests`` and remembered, so :func:`restore_hosts` removes exactly the
    lines this process added (it also runs at interpreter exit); an identical line that was already
    there is left alone.
    ``{ip: host}`` is accepted too. Raises :class:`HostsConflictError` if a host is already mapped
    to another address. Returns the entries this call added.
    """
    global _hosts_atexit_registered
    path = Path(hosts_file)
    wanted: dict[str, str] = {}
    for key, value in mapping.items():
        host, ip = (value, key) if _is_ip(key) and not _is_ip(value) else (key, value)
        if not ipaddress.ip_address(ip).is_loopback:
            raise ValueError(f"refusing to map {host} to {ip}: test hosts must be on loopback (127.0.0.0/8)")
        wanted[host.lower()] = ip
    added: dict[str, str] = {}
    with _hosts_lock, _locked_file(path) as fh:
        fh.seek(0)
        text = fh.read()
        lines = text.splitlines()
        current: dict[str, str] = {}
        for line in lines:
            fields = line.split("#", 1)[0].split()
            for name in fields[1:]:
                current.setdefault(name.lower(), fields[0])
        new_lines = []
        for host, ip in wanted.items():
            existing = current.get(host)
            if existing == ip:
                # Already there (another fixture, another test session, or a leftover of a crashed
                # run): not ours to remove, since someone else may still rely on it.
                continue
            if existing is not None:
                raise HostsConflictError(f"{path} already maps {host} to {existing}, not {ip}")
            new_lines.append(f"{ip} {host} {HOSTS_MARK}")
            _hosts_added[(path, host)] = ip
            added[host] = ip
        if new_lines:
            if text and not text.endswith("\n"):
                text += "\n"
            _rewrite(fh, text + "\n".join(new_lines) + "\n")
        if not _hosts_atexit_registered:
            atexit.register(restore_hosts)
            _hosts_atexit_registered = True
    return added


def restore_hosts(
    hosts: Iterable[str] | None = None, hosts_file: str | os.PathLike[str] | None = None
) -> None:
    """Remove the lines :func:`ensure_hosts_entries` added: all of them, or those of ``hosts``
    (in ``hosts_file`` only, if given)."""
    only_file = Path(hosts_file) if hosts_file is not None else None
    wanted = None if hosts is None else {h.lower() for h in hosts}
    with _hosts_lock:
        keys = [
            (path, host) for (path, host) in _hosts_added
            if (wanted is None or host in wanted) and (only_file is None or path == only_file)
        ]
        by_file: dict[Path, set[str]] = {}
        for path, host in keys:
            ip = _hosts_added.pop((path, host))
            by_file.setdefault(path, set()).add(f"{ip} {host} {HOSTS_MARK}")
        for path, drop in by_file.items():
            try:
                with _locked_file(path) as fh:
                    fh.seek(0)
                    text = fh.read()
                    kept = [line for line in text.splitlines() if line.strip() not in drop]
                    _rewrite(fh, "\n".join(kept) + ("\n" if kept else ""))
            except FileNotFoundError:
                pass


def hosts_added_by_this_process(hosts_file: str | os.PathLike[str] = HOSTS_FILE) -> dict[str, str]:
    """The ``{host: ip}`` lines of ``hosts_file`` that this process added and has not removed yet."""
    path = Path(hosts_file)
    with _hosts_lock:
        return {host: ip for (p, host), ip in _hosts_added.items() if p == path}


@contextlib.contextmanager
def _locked_file(path: Path):
    # Written in place: /etc/hosts is often a bind mount that cannot be replaced by a rename.
    with open(path, "r+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield fh
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _rewrite(fh: Any, text: str) -> None:
    fh.seek(0)
    fh.write(text)
    fh.truncate()
    fh.flush()
    os.fsync(fh.fileno())


# --------------------------------------------------------------------------------------------
# Scripts run with bovine's interpreter
# --------------------------------------------------------------------------------------------

# Loaded by every bovine process (PYTHONPATH=<work>/pylib): refuses and records any DNS lookup of a
# name /etc/hosts does not map to loopback, and any connection to a non-loopback address; makes
# aiohttp resolve through getaddrinfo (audited, /etc/hosts re-read on each lookup) instead of c-ares.
_NETGUARD_SOURCE = r'''
import ipaddress, os, socket, sys, time

_LOG = os.environ.get("FEDIVERSE_NETGUARD_LOG")


def _loopback(addr):
    try:
        return ipaddress.ip_address(str(addr).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _hosts():
    result = {}
    try:
        with open("/etc/hosts") as fh:
            for line in fh:
                fields = line.split("#", 1)[0].split()
                for name in fields[1:]:
                    result.setdefault(name.lower(), fields[0])
    except OSError:
        pass
    return result


def _refuse(what):
    line = "[netguard pid=%d %s] BLOCKED %s" % (os.getpid(), time.strftime("%H:%M:%S"), what)
    try:
        sys.stderr.write(line + "\n")
        if _LOG:
            with open(_LOG, "a") as fh:
                fh.write(line + "\n")
    except Exception:
        pass
    raise OSError("netguard: %s refused: tests may only reach loopback hosts" % what)


def _check_name(host, event):
    if host is None:
        return
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii", "replace")
    host = str(host).rstrip(".").lower()
    if not host or host == "localhost" or _loopback(host):
        return
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        _refuse("%s of non-loopback address %s" % (event, host))
    address = _hosts().get(host)
    if address is None or not _loopback(address):
        _refuse("%s of %r (not a loopback name in /etc/hosts)" % (event, host))


def _hook(event, args):
    if event == "socket.getaddrinfo":
        _check_name(args[0], "DNS lookup")
    elif event in ("socket.gethostbyname", "socket.gethostbyname_ex"):
        _check_name(args[0], "DNS lookup")
    elif event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        address = args[-1] if event != "socket.connect" else args[1]
        if isinstance(address, tuple) and address and isinstance(address[0], str):
            if not _loopback(address[0]):
                _refuse("%s to %s" % (event.split(".")[1], address[:2]))


sys.addaudithook(_hook)

try:
    import aiohttp.connector
    import aiohttp.resolver

    aiohttp.connector.DefaultResolver = aiohttp.resolver.ThreadedResolver
except Exception:
    pass
'''

# One peer operation, with bovine's client (Moo-Auth-1 with alice's did:key secret). Reads a JSON
# request on stdin, prints {"ok": true, "result": ...} or {"ok": false, "error": ...} on stdout.
_CLIENT_SOURCE = r'''
import asyncio, json, sys, traceback
from urllib.parse import urlencode

import aiohttp
from bovine import BovineClient


async def _json(response):
    text = await response.text()
    try:
        return json.loads(text)
    except ValueError:
        return text


async def run(req):
    op = req["op"]
    timeout = aiohttp.ClientTimeout(total=req["timeout"])
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = BovineClient(domain=req["domain"], secret=req["secret"])
        await client.init(session=session)
        info = client.information
        if op == "info":
            return info
        if op == "send_to_outbox":
            response = await client.send_to_outbox(req["activity"])
            body = await _json(response)
            if response.status != 201:
                raise RuntimeError("outbox POST answered %d: %s" % (response.status, body))
            return {"status": response.status, "location": response.headers.get("location"), "body": body}
        if op == "proxy":
            response = await client.client.post(
                info["endpoints"]["proxyUrl"], urlencode({"id": req["url"]}),
                content_type="application/x-www-form-urlencoded",
            )
            body = await _json(response)
            if response.status != 200:
                raise RuntimeError("proxyUrl for %s answered %d: %s" % (req["url"], response.status, body))
            return body
        if op == "get":
            response = await client.client.get(req["url"])
            body = await _json(response)
            if response.status != 200:
                raise RuntimeError("GET %s answered %d: %s" % (req["url"], response.status, body))
            return body
        raise ValueError("unknown op %r" % op)


def main():
    req = json.loads(sys.stdin.read())
    try:
        result = asyncio.run(asyncio.wait_for(run(req), req["timeout"]))
        out = {"ok": True, "result": result}
    except BaseException as exc:
        out = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc),
               "traceback": traceback.format_exc()}
    sys.stdout.write("\n" + json.dumps(out) + "\n")


main()
'''


# --------------------------------------------------------------------------------------------
# The peer
# --------------------------------------------------------------------------------------------

class BovinePeer:
    """A bovine-herd server with one actor (``alice`` by default), started by :meth:`start`.

    Parameters: ``host``/``ip`` (the test host name and its loopback address), ``ca`` (a
    ``trustme.CA``; made if omitted; bovine trusts only this CA plus ``extra_ca_pems``),
    ``handle`` (the actor's preferredUsername), ``venv_dir`` (default
    :func:`bovine_venv_dir`), ``work_dir`` (default: a new temporary directory, deleted by
    :meth:`stop` unless ``keep_work_dir`` or ``$FEDIVERSE_KEEP_BOVINE_WORKDIR`` is set),
    ``manage_hosts`` (add/remove the /etc/hosts line), ``start_timeout`` and ``op_timeout``
    (seconds for startup and for each peer operation).
    """

    def __init__(
        self,
        host: str = "bovine-a.test",
        ip: str = "127.0.0.4",
        *,
        ca: Any = None,
        handle: str = "alice",
        port: int = 443,
        venv_dir: str | os.PathLike[str] | None = None,
        work_dir: str | os.PathLike[str] | None = None,
        keep_work_dir: bool | None = None,
        extra_ca_pems: Iterable[bytes | str] = (),
        manage_hosts: bool = True,
        start_timeout: float = 60.0,
        op_timeout: float = 30.0,
        log_level: str = "INFO",
    ) -> None:
        self.host = host.lower()
        self.ip = ip
        self.port = port
        self.handle = handle
        self.venv_dir = Path(venv_dir).resolve() if venv_dir else bovine_venv_dir()
        self._given_work_dir = Path(work_dir).resolve() if work_dir else None
        if keep_work_dir is None:
            keep_work_dir = bool(os.environ.get("FEDIVERSE_KEEP_BOVINE_WORKDIR"))
        self.keep_work_dir = keep_work_dir
        self.extra_ca_pems = [p.encode() if isinstance(p, str) else p for p in extra_ca_pems]
        self.manage_hosts = manage_hosts
        self.start_timeout = start_timeout
        self.op_timeout = op_timeout
        self.log_level = log_level
        if ca is None:
            import trustme

            ca = trustme.CA()
        self.ca = ca

        self.work_dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.bovine_name: str | None = None
        self.secret: str | None = None
        self.actor: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self._hosts_added: list[str] = []
        self._log_handle: Any = None
        self._stopped = True

    # ---- paths and derived values ----------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"https://{self.host}" if self.port == 443 else f"https://{self.host}:{self.port}"

    @property
    def domain(self) -> str:
        return self.host if self.port == 443 else f"{self.host}:{self.port}"

    @property
    def acct(self) -> str:
        """``acct:alice@bovine-a.test``"""
        return f"acct:{self.handle}@{self.domain}"

    def _path(self, name: str) -> Path:
        assert self.work_dir is not None, "peer not started"
        return self.work_dir / name

    @property
    def db_path(self) -> Path:
        return self._path("bovine.sqlite3")

    @property
    def db_url(self) -> str:
        return f"sqlite://{self.db_path}"  # sqlite:///ABS/PATH/bovine.sqlite3

    @property
    def log_path(self) -> Path:
        return self._path("bovine.log")

    @property
    def netguard_log_path(self) -> Path:
        return self._path("netguard.log")

    @property
    def ca_bundle_path(self) -> Path:
        """PEM file of the CA(s) bovine trusts (also usable by our own clients)."""
        return self._path("ca-bundle.pem")

    @property
    def python(self) -> Path:
        return _venv_python(self.venv_dir)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    # Actor facts (from the actor document alice's client sees, visibility OWNER).
    @property
    def actor_id(self) -> str:
        return self.actor["id"]

    @property
    def key_id(self) -> str:
        return self.actor["publicKey"]["id"]

    @property
    def inbox_url(self) -> str:
        return self.actor["inbox"]

    @property
    def outbox_url(self) -> str:
        return self.actor["outbox"]

    @property
    def followers_url(self) -> str:
        return self.actor["followers"]

    @property
    def following_url(self) -> str:
        return self.actor["following"]

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context trusting the test CA (for our own HTTP clients)."""
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx

    @property
    def aio(self) -> _AsyncView:
        """The same operations as coroutines run in a worker thread, for async tests:
        ``await peer.aio.follow(actor)``. Never call the blocking methods directly from a coroutine
        on the loop that also runs our server: bovine calls back into it while we wait."""
        return _AsyncView(self)

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"<BovinePeer {self.origin} ({self.ip}) {self.handle} {state}>"

    # ---- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> BovinePeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> BovinePeer:
        """Create the venv if needed, start hypercorn+bovine, wait until it answers, register the actor."""
        if not self._stopped:
            return self
        t0 = time.monotonic()
        ensure_bovine_venv(self.venv_dir)
        self.timings["venv"] = time.monotonic() - t0
        if LAST_VENV_BUILD_SECONDS is not None:
            self.timings["venv_build"] = LAST_VENV_BUILD_SECONDS
        if not APP_FILE.exists():
            raise BovinePeerError(f"missing {APP_FILE}")
        if not JSONLD_CACHE_SOURCE.exists():
            raise BovinePeerError(f"missing the offline JSON-LD cache {JSONLD_CACHE_SOURCE}")

        if self._given_work_dir:
            self._given_work_dir.mkdir(parents=True, exist_ok=True)
            self.work_dir = self._given_work_dir
        else:
            self.work_dir = Path(tempfile.mkdtemp(prefix=f"bovine-{self.host}-"))
        self._stopped = False
        _live_peers.add(self)
        try:
            self._prepare_work_dir()
            if self.manage_hosts:
                self._hosts_added = list(ensure_hosts_entries({self.host: self.ip}))
            t1 = time.monotonic()
            self._start_server()
            self.timings["server_start"] = time.monotonic() - t1
            t2 = time.monotonic()
            self._register_actor()
            self.timings["register"] = time.monotonic() - t2
        except BaseException:
            self.stop(_keep=True)
            raise
        return self

    def _prepare_work_dir(self) -> None:
        shutil.copyfile(JSONLD_CACHE_SOURCE, self._path(JSONLD_CACHE_NAME))
        leaf = self.ca.issue_cert(self.host)
        leaf.private_key_pem.write_to_path(str(self._path("key.pem")))
        with open(self._path("cert.pem"), "wb") as fh:
            for blob in leaf.cert_chain_pems:
                fh.write(blob.bytes())
        with open(self.ca_bundle_path, "wb") as fh:
            fh.write(self.ca.cert_pem.bytes())
            for pem in self.extra_ca_pems:
                fh.write(b"\n" + pem.strip() + b"\n")
        pylib = self._path("pylib")
        pylib.mkdir(exist_ok=True)
        (pylib / "sitecustomize.py").write_text(_NETGUARD_SOURCE)
        self._path("bovine_client_op.py").write_text(_CLIENT_SOURCE)
        self.netguard_log_path.touch()

    def _env(self) -> dict[str, str]:
        env = _base_env()
        env.update(
            BOVINE_DB_URL=self.db_url,
            BOVINE_LOG_LEVEL=self.log_level,
            SSL_CERT_FILE=str(self.ca_bundle_path),  # aiohttp (ssl.create_default_context)
            REQUESTS_CA_BUNDLE=str(self.ca_bundle_path),  # pyld's requests-based document loader
            PYTHONPATH=str(self._path("pylib")),
            FEDIVERSE_NETGUARD_LOG=str(self.netguard_log_path),
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
            PATH=f"{self.venv_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        )
        return env

    def _start_server(self) -> None:
        self._log_handle = open(self.log_path, "ab")
        cmd = [
            str(self.venv_dir / "bin" / "hypercorn"),
            "--workers", "0",  # serve in this very process: the PID we keep is the server's own
            "--bind", f"{self.ip}:{self.port}",
            "--certfile", str(self._path("cert.pem")),
            "--keyfile", str(self._path("key.pem")),
            "--access-logfile", "-",
            "--error-logfile", "-",
            "--graceful-timeout", "3",
            f"{APP_FILE}:app",
        ]
        self.process = subprocess.Popen(
            cmd, cwd=self.work_dir, env=self._env(), stdin=subprocess.DEVNULL,
            stdout=self._log_handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
        ctx = self.ssl_context()
        url = f"{self.origin}/.well-known/nodeinfo"
        deadline = time.monotonic() + self.start_timeout
        last_error: object = None
        while True:
            if self.process.poll() is not None:
                raise BovinePeerError(
                    f"bovine (hypercorn) exited with code {self.process.returncode} during startup; "
                    f"log {self.log_path}:\n{self.log_tail(40)}")
            try:
                with urllib.request.urlopen(url, context=ctx, timeout=2) as response:
                    if response.status == 200 and json.loads(response.read()).get("links"):
                        return
                    last_error = f"HTTP {response.status}"
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last_error = exc
            if time.monotonic() > deadline:
                raise BovinePeerError(
                    f"bovine did not answer {url} within {self.start_timeout:.0f}s "
                    f"(last error: {last_error}); "
                    f"log {self.log_path}:\n{self.log_tail(40)}")
            time.sleep(0.1)

    def _run_tool(self, *args: str, timeout: float = 60.0) -> str:
        cmd = [str(self.python), "-m", *args]
        try:
            proc = subprocess.run(cmd, cwd=self.work_dir, env=self._env(), capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise BovinePeerError(f"{' '.join(args)} timed out after {timeout}s") from exc
        if proc.returncode != 0:
            raise BovinePeerError(f"`python -m {' '.join(args)}` failed ({proc.returncode}):\n"
                                  f"{_tail(proc.stdout + proc.stderr, 30)}")
        return proc.stdout

    def _register_actor(self) -> None:
        out = self._run_tool("bovine_tool.register", self.handle, "--domain", self.domain)
        match = re.search(r"Bovine name:\s*(\S+)", out)
        if not match:
            raise BovinePeerError(f"unexpected output of bovine_tool.register: {out!r}")
        self.bovine_name = match.group(1)
        out = self._run_tool("bovine_tool.manage", self.bovine_name, "--new_did_key")
        match = re.search(r"Your new secret:\s*(\S+)", out)
        if not match:
            raise BovinePeerError(f"unexpected output of bovine_tool.manage --new_did_key: {out!r}")
        self.secret = match.group(1)
        self.actor = self._client("info")

    def stop(self, *, _keep: bool = False) -> None:
        """Stop the server (SIGTERM, SIGKILL after 10 s), remove our /etc/hosts line and the work dir."""
        if self._stopped:
            return
        self._stopped = True
        _live_peers.discard(self)
        proc = self.process
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        if self._hosts_added:
            restore_hosts(self._hosts_added, HOSTS_FILE)
            self._hosts_added = []
        if (self.work_dir and not self.keep_work_dir and not _keep and self._given_work_dir is None):
            shutil.rmtree(self.work_dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # ---- logs ----------------------------------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log_text(), lines)

    def log_lines(self, pattern: str) -> list[str]:
        """Lines of bovine's log matching the regular expression ``pattern``."""
        rx = re.compile(pattern)
        return [line for line in self.log_text().splitlines() if rx.search(line)]

    def network_violations(self) -> list[str]:
        """Refused attempts of any bovine process to reach a non-loopback host (should be empty)."""
        try:
            return [line for line in self.netguard_log_path.read_text().splitlines() if line.strip()]
        except OSError:
            return []

    def delivery_failures(self) -> list[str]:
        """Log lines where bovine failed to deliver to an inbox or to fetch a remote object."""
        return self.log_lines(
            r"Sending to .* failed|Failed to fetch inbox|Failed to retrieve|Could not retrieve")

    # ---- client operations (subprocess in bovine's venv) ----------------------------------------

    def _client(self, op: str, *, timeout: float | None = None, **params: Any) -> Any:
        if self._stopped or not self.running:
            raise BovinePeerError(f"bovine peer is not running; log:\n{self.log_tail(30)}")
        timeout = timeout or self.op_timeout
        request = {"op": op, "domain": self.origin, "secret": self.secret, "timeout": timeout, **params}
        try:
            proc = subprocess.run(
                [str(self.python), str(self._path("bovine_client_op.py"))], input=json.dumps(request),
                cwd=self.work_dir, env=self._env(), capture_output=True, text=True, timeout=timeout + 15,
            )
        except subprocess.TimeoutExpired as exc:
            raise BovinePeerError(
                f"bovine client op {op} timed out; server log:\n{self.log_tail(30)}") from exc
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        try:
            answer = json.loads(lines[-1])
        except (IndexError, ValueError):
            raise BovinePeerError(f"bovine client op {op} gave no answer (exit {proc.returncode}):\n"
                                  f"{_tail(proc.stdout + proc.stderr, 30)}") from None
        if not answer.get("ok"):
            notable = self.log_lines(r"WARNING|ERROR|netguard|Failed to|failed with")[-8:]
            raise BovinePeerError(
                f"bovine client op {op} {params.get('url', '')} failed: {answer.get('error')}\n"
                f"client stderr:\n{_tail(proc.stderr, 10)}\n"
                f"notable server log lines:\n" + "\n".join(line[:400] for line in notable)
                + f"\nserver log tail:\n{self.log_tail(10)}")
        return answer["result"]

    def send_to_outbox(self, activity: Mapping[str, Any], *, timeout: float | None = None) -> str:
        """POST ``activity`` to alice's outbox (as alice's client); returns the id bovine gave it.

        bovine assigns fresh ids to the activity and to an embedded object without a known id,
        stores it, answers 201, then delivers it in the background to every actor named in the
        ACTIVITY's to/cc/bto/bcc/audience (the object's addressing is not looked at) and to
        alice's followers if her followers collection is addressed. So address the activity.
        """
        data = dict(activity)
        data.setdefault("@context", AS_CONTEXT)
        data.setdefault("actor", self.actor_id)
        result = self._client("send_to_outbox", activity=data, timeout=timeout)
        return result["location"]

    def fetch(self, url: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Fetch ``url`` through alice's proxyUrl: bovine's server performs a signed GET (as alice,
        keyId ``<actor>#serverKey``) unless it has a fresh copy (< 1 day) in its store. The answer
        is compacted against bovine's context; also accepts ``acct:user@host``."""
        return self._client("proxy", url=url, timeout=timeout)

    def get(self, url: str, *, timeout: float | None = None) -> Any:
        """GET a URL on the bovine server itself as alice (Moo-Auth-1), e.g. her collections."""
        return self._client("get", url=url, timeout=timeout)

    def refresh_actor(self) -> dict[str, Any]:
        self.actor = self._client("info")
        return self.actor

    # ---- convenience activities -----------------------------------------------------------------

    def follow(self, target_actor_id: str) -> str:
        """alice follows ``target_actor_id``; returns the Follow's id. bovine adds the target to
        alice's following once an Accept referencing this Follow arrives."""
        return self.send_to_outbox({
            "@context": AS_CONTEXT, "type": "Follow", "actor": self.actor_id,
            "object": target_actor_id, "to": [target_actor_id],
        })

    def unfollow(self, follow_id: str, target_actor_id: str, *, embed: bool = False) -> str:
        """Undo a Follow; bovine removes the target from alice's following. The Undo's object is
        the Follow's id (bovine's own habit) or, with ``embed``, the Follow itself (Mastodon's)."""
        follow: str | dict[str, Any] = follow_id
        if embed:
            follow = {"id": follow_id, "type": "Follow", "actor": self.actor_id, "object": target_actor_id}
        return self.send_to_outbox({
            "@context": AS_CONTEXT, "type": "Undo", "actor": self.actor_id,
            "object": follow, "to": [target_actor_id],
        })

    def accept_follow(self, follow: str | Mapping[str, Any], *, embed: bool = True) -> str:
        """Accept a Follow of alice (by id or as received): bovine never accepts on its own.
        The Accept's object is the Follow as received (``embed``) or just its id. bovine then
        adds the follower to alice's followers and delivers the Accept to the follower's inbox."""
        if isinstance(follow, str):
            stored = self.stored_object(follow)
            if stored is None:
                raise BovinePeerError(f"no Follow {follow} in bovine's store")
            follow = stored
        follow = {k: v for k, v in follow.items() if k != "@context"}
        follower = follow["actor"]["id"] if isinstance(follow["actor"], dict) else follow["actor"]
        return self.send_to_outbox({
            "@context": AS_CONTEXT, "type": "Accept", "actor": self.actor_id,
            "object": follow if embed else follow["id"], "to": [follower],
        })

    def accept_pending_follows(self) -> list[str]:
        """Accept every Follow of alice in her inbox not yet followed by an Accept; returns Accept ids."""
        accepted = set(self.followers())
        ids = []
        for item in self.inbox_items():
            if item.get("type") == "Follow" and _id(item.get("object")) == self.actor_id:
                if _id(item.get("actor")) not in accepted:
                    ids.append(self.accept_follow(item))
                    accepted.add(_id(item.get("actor")))
        return ids

    def create_note(
        self,
        content: str,
        *,
        to: Iterable[str] = (PUBLIC,),
        cc: Iterable[str] | None = None,
        in_reply_to: str | None = None,
        tag: list[dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """alice publishes a Note (``to`` Public and ``cc`` her followers by default); returns the
        stored Create with the Note embedded (``["object"]["id"]`` is the Note's id)."""
        to = list(to)
        cc = [self.followers_url] if cc is None else list(cc)
        note: dict[str, Any] = {
            "type": "Note", "attributedTo": self.actor_id, "content": content, "to": to, "cc": cc,
            "published": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if in_reply_to:
            note["inReplyTo"] = in_reply_to
        if tag:
            note["tag"] = tag
        note.update(extra or {})
        activity_id = self.send_to_outbox({
            "@context": AS_CONTEXT, "type": "Create", "actor": self.actor_id, "to": to, "cc": cc,
            "object": note,
        })
        return self.stored_object(activity_id) or {"id": activity_id}

    # ---- bovine's store (read directly from its SQLite database) --------------------------------

    def _db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def stored_object(self, object_id: str, *, embed: bool = True) -> dict[str, Any] | None:
        """An object from bovine's store by id (as bovine stored it: compacted, object by id),
        with ``object`` re-embedded when the store has it and ``embed`` is true."""
        with contextlib.closing(self._db()) as conn:
            row = conn.execute("SELECT content FROM storedjsonobject WHERE id = ?", (object_id,)).fetchone()
            if row is None:
                return None
            data = json.loads(row["content"])
            return self._embed(conn, data) if embed else data

    def _embed(self, conn: sqlite3.Connection, data: dict[str, Any]) -> dict[str, Any]:
        obj = data.get("object")
        if isinstance(obj, str):
            row = conn.execute("SELECT content FROM storedjsonobject WHERE id = ?", (obj,)).fetchone()
            if row is not None:
                inner = json.loads(row["content"])
                inner.pop("@context", None)
                data = {**data, "object": inner}
        return data

    def collection_ids(self, collection_url: str) -> list[str]:
        """The ids in one of bovine's collections, oldest first."""
        with contextlib.closing(self._db()) as conn:
            rows = conn.execute("SELECT object_id FROM collectionitem WHERE part_of = ? ORDER BY id",
                                (collection_url,)).fetchall()
        return [row["object_id"] for row in rows]

    def collection_items(self, collection_url: str, *, embed: bool = True) -> list[dict[str, Any]]:
        """The stored objects of a collection, oldest first (ids not in the store are skipped)."""
        with contextlib.closing(self._db()) as conn:
            rows = conn.execute(
                "SELECT obj.content FROM collectionitem ci "
                "JOIN storedjsonobject obj ON obj.id = ci.object_id "
                "WHERE ci.part_of = ? ORDER BY ci.id", (collection_url,)).fetchall()
            items = [json.loads(row["content"]) for row in rows]
            return [self._embed(conn, item) for item in items] if embed else items

    def inbox_items(self) -> list[dict[str, Any]]:
        """Activities alice has received and bovine has processed, oldest first, each with its
        ``object`` embedded when known. Inbox processing is asynchronous (bovine answers 202
        first): use :meth:`wait_for_inbox` to wait for one."""
        return self.collection_items(self.inbox_url)

    def outbox_items(self) -> list[dict[str, Any]]:
        return self.collection_items(self.outbox_url)

    def followers(self) -> list[str]:
        return self.collection_ids(self.followers_url)

    def following(self) -> list[str]:
        return self.collection_ids(self.following_url)

    def wait_for(self, condition: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.2,
                 what: str = "condition") -> Any:
        """Poll ``condition()`` until it returns something truthy (returned) or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"bovine peer: {what} not met within {timeout}s; log:\n{self.log_tail(30)}")
            time.sleep(interval)

    def wait_for_inbox(
        self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 20.0
    ) -> dict[str, Any]:
        """Wait until an inbox item satisfies ``predicate``; return it."""
        def found() -> dict[str, Any] | None:
            return next((item for item in self.inbox_items() if predicate(item)), None)

        return self.wait_for(found, timeout=timeout, what="inbox item")


class _AsyncView:
    """``peer.aio.NAME(...)`` awaits ``peer.NAME(...)`` in a worker thread."""

    def __init__(self, peer: BovinePeer) -> None:
        self._peer = peer

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._peer, name)
        if not callable(method):
            raise AttributeError(f"BovinePeer.{name} is not a method; read peer.{name} directly")

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        call.__name__ = name
        return call


def _id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


# Peers still running when the interpreter exits (a test run that died) are stopped.
_live_peers: set[BovinePeer] = set()


@atexit.register
def _stop_live_peers() -> None:
    for peer in list(_live_peers):
        with contextlib.suppress(Exception):
            peer.stop()
