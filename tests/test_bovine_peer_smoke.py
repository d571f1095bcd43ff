"""Smoke test of the bovine-herd federation peer harness alone (tests/peers/bovine_peer.py).

Starts a real bovine server on https://bovine-a.test (127.0.0.4:443) with a trustme CA and checks
webfinger, signed fetches of alice's actor, and a public Note posted to alice's outbox. Skipped
only when bovine's virtualenv cannot be built because the package index is unreachable.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import trustme

from tests.peers.bovine_peer import (
    PUBLIC,
    BovinePeer,
    BovineVenvUnavailable,
    HostsConflictError,
    ensure_bovine_venv,
    ensure_hosts_entries,
    hosts_added_by_this_process,
    read_hosts_file,
    restore_hosts,
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def peer(ca: trustme.CA) -> Iterator[BovinePeer]:
    try:
        ensure_bovine_venv()
    except BovineVenvUnavailable as exc:
        lines = str(exc).splitlines()
        pytest.skip(f"bovine's venv cannot be built, PyPI is unreachable: {lines[0]} {lines[-1]}")
    before = dict(hosts_added_by_this_process())  # other fixtures of this session may own the line
    peer = BovinePeer(ca=ca)  # bovine-a.test on 127.0.0.4
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()
    assert hosts_added_by_this_process() == before, "stop() must remove the line it added, and only that"


def _get(url: str, ctx: ssl.SSLContext, accept: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_webfinger_over_tls_with_test_ca(peer: BovinePeer, ca: trustme.CA) -> None:
    assert read_hosts_file().get("bovine-a.test") == "127.0.0.4"
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    status, jrd = _get("https://bovine-a.test/.well-known/webfinger?resource=acct:alice@bovine-a.test", ctx)
    assert status == 200
    assert jrd["subject"] == "acct:alice@bovine-a.test"
    selves = [link["href"] for link in jrd["links"] if link["rel"] == "self"]
    assert selves == [peer.actor_id]
    assert peer.actor_id.startswith("https://bovine-a.test/endpoints/")

    # The certificate is only trusted through our CA.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen("https://bovine-a.test/.well-known/nodeinfo", timeout=10)


def test_actor_requires_signed_get(peer: BovinePeer) -> None:
    # Unsigned: bovine refuses its actors to anyone who does not sign.
    status, body = _get(peer.actor_id, peer.ssl_context(), accept="application/activity+json")
    assert status == 401, body

    # Signed by alice's client (Moo-Auth-1): her own, OWNER view.
    own = peer.get(peer.actor_id)
    assert own["id"] == peer.actor_id
    assert own["inbox"] == peer.inbox_url and own["outbox"] == peer.outbox_url
    assert own["publicKey"]["id"] == f"{peer.actor_id}#serverKey"
    assert "BEGIN PUBLIC KEY" in own["publicKey"]["publicKeyPem"]

    # Through proxyUrl: bovine's server fetches it (from its store or with an HTTP-signed GET).
    proxied = peer.fetch(peer.actor_id)
    assert proxied["id"] == peer.actor_id
    assert proxied["preferredUsername"] == "alice"


def test_public_note_lands_in_outbox(peer: BovinePeer) -> None:
    create = peer.create_note("Bonjour from <b>bovine</b>")
    assert create["type"] == "Create"
    assert create["actor"] == peer.actor_id
    note = create["object"]
    assert note["type"] == "Note"
    assert note["id"].startswith("https://bovine-a.test/objects/")
    assert note["content"] == "Bonjour from <b>bovine</b>"
    # bovine compacts the public address to "as:Public" in what it stores and sends.
    assert note["to"] in (["as:Public"], [PUBLIC], "as:Public", PUBLIC)

    assert create["id"] in peer.collection_ids(peer.outbox_url)
    assert any(item["id"] == create["id"] for item in peer.outbox_items())

    # The same, as alice's client sees her outbox collection over HTTP.
    outbox = peer.get(peer.outbox_url)
    assert outbox["type"] == "OrderedCollection"
    assert create["id"] in outbox.get("orderedItems", [])

    # Nobody follows alice and nobody is addressed: nothing to deliver, nothing failed.
    assert peer.followers() == [] and peer.following() == []
    assert peer.inbox_items() == []
    assert peer.delivery_failures() == []


def test_nothing_left_the_machine(peer: BovinePeer) -> None:
    assert peer.network_violations() == [], peer.network_violations()
    assert not peer.log_lines(r"Failed to load https?://"), "bovine tried to fetch a JSON-LD context"


def test_hosts_helper_is_idempotent_and_restores(tmp_path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.5 already.test\n")
    assert ensure_hosts_entries({"already.test": "127.0.0.5"}, hosts) == {}  # not ours: kept
    assert ensure_hosts_entries({"commune-a.test": "127.0.0.2"}, hosts) == {"commune-a.test": "127.0.0.2"}
    assert ensure_hosts_entries({"127.0.0.2": "commune-a.test"}, hosts) == {}
    assert ensure_hosts_entries({"commune-b.test": "127.0.0.3"}, hosts) == {"commune-b.test": "127.0.0.3"}
    assert read_hosts_file(hosts)["commune-a.test"] == "127.0.0.2"
    with pytest.raises(ValueError):
        ensure_hosts_entries({"evil.test": "10.0.0.1"}, hosts)
    with pytest.raises(HostsConflictError):
        ensure_hosts_entries({"already.test": "127.0.0.6"}, hosts)
    assert hosts_added_by_this_process(hosts) == {"commune-a.test": "127.0.0.2", "commune-b.test": "127.0.0.3"}
    restore_hosts(["commune-a.test"], hosts)
    assert "commune-a.test" not in read_hosts_file(hosts)
    assert read_hosts_file(hosts)["commune-b.test"] == "127.0.0.3"
    restore_hosts(["commune-b.test"], hosts)
    restore_hosts(hosts_file=hosts)
    assert hosts.read_text() == "127.0.0.1 localhost\n127.0.0.5 already.test\n"
