"""`fediverse neighbours` as the administrator runs it against live instances: refusals are one clear
`error: …` line with exit status 2, discovery follows NodeInfo (FEP-2677) before `/actor`, and adding
an instance that already asked us makes the relation mutual at once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from fediverse.keys import generate_rsa_keypair
from outbox.neighbours import NeighbourCommands
from tests.federation_steps import make_account
from tests.live import eventually, serve_on_test_host
from tests.neighbour_steps import COUESNON, FOUGERES, cli, set_territory, states, wait_states


@pytest.fixture
async def pair(make_instance):
    a = await make_instance("commune-a.test")
    b = await make_instance("commune-b.test")
    await set_territory(a, COUESNON)
    await set_territory(b, FOUGERES)
    await make_account(b, "bob")
    return a, b


def refused(result: Any, message: str) -> None:
    assert result.code == 2, (result.code, result.out, result.err)
    assert result.err.startswith("error: ") and message in result.err, result.err
    assert "Traceback" not in result.err


async def test_bad_addresses_and_unknown_domains_are_refused_with_a_clear_error(pair):
    a, _b = pair
    refused(await cli(a, "neighbours", "add", "http://commune-b.test"), "http is not allowed")
    refused(await cli(a, "neighbours", "add", "commune-a.test"), "cannot be its own neighbour")
    refused(await cli(a, "neighbours", "add", "   "), "give the neighbour's address")
    # Nobody listens on commune-c.test.
    refused(await cli(a, "neighbours", "add", "https://commune-c.test"), "cannot reach")
    refused(await cli(a, "neighbours", "add", "https://commune-b.test/users/bob"),
            "is a Person, not an instance actor")
    refused(await cli(a, "neighbours", "add", "https://commune-b.test/users/nobody"), "cannot reach")
    for command in ("accept", "reject", "remove"):
        refused(await cli(a, "neighbours", command, "unknown.test"), "no neighbour 'unknown.test'")
    assert json.loads((await cli(a, "neighbours", "list", "--json")).out) == []


async def test_answers_need_a_request_to_answer(pair):
    a, b = pair
    added = await cli(a, "neighbours", "add", "commune-b.test")
    assert added.code == 0, added.err
    refused(await cli(a, "neighbours", "accept", "commune-b.test"), "commune-b.test has not asked to be our neighbour")
    refused(await cli(a, "neighbours", "reject", "commune-b.test"), "commune-b.test has no request to reject")
    again = await cli(a, "neighbours", "add", "https://commune-b.test/")
    assert again.code == 0 and "nothing new to send" in again.out, again.out
    await wait_states(b, "commune-a.test", ("none", "pending"), "a single request")


async def test_adding_an_instance_that_already_asked_us_accepts_it_and_the_relation_is_mutual(pair):
    a, b = pair
    await NeighbourCommands(b.runtime).request_neighbour("https://commune-a.test")
    await wait_states(a, "commune-b.test", ("none", "pending"), "B's request")
    added = await cli(a, "neighbours", "add", "commune-b.test")
    assert added.code == 0, added.err
    assert "Follow, Accept" in added.out
    await wait_states(a, "commune-b.test", ("accepted", "accepted"), "B's Accept")
    await wait_states(b, "commune-a.test", ("accepted", "accepted"), "A's Follow and Accept")


@pytest.fixture
async def application_host(test_ca) -> AsyncIterator[list[dict[str, Any]]]:
    """commune-c.test as a non-Mastodon server: its application actor is at `/relay`, announced by NodeInfo
    (FEP-2677, as Mobilizon does); nothing at `/actor`. Returns what its inbox receives."""
    ca, _ = test_ca
    received: list[dict[str, Any]] = []
    private_pem, public_pem = generate_rsa_keypair()
    actor_uri = "https://commune-c.test/relay"

    async def nodeinfo(_request: web.Request) -> web.Response:
        return web.json_response({"links": [
            {"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": "https://commune-c.test/nodeinfo/2.1"},
            {"rel": "https://www.w3.org/ns/activitystreams#Application", "href": actor_uri}]})

    async def actor(_request: web.Request) -> web.Response:
        return web.json_response({
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": actor_uri, "type": "Application", "preferredUsername": "relay",
            "inbox": "https://commune-c.test/inbox",
            "publicKey": {"id": f"{actor_uri}#main-key", "owner": actor_uri, "publicKeyPem": public_pem}},
            content_type="application/activity+json")

    async def inbox(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.json_response({}, status=202)

    app = web.Application()
    app.router.add_get("/.well-known/nodeinfo", nodeinfo)
    app.router.add_get("/relay", actor)
    app.router.add_post("/inbox", inbox)
    async with serve_on_test_host(app, ca):
        yield received


async def test_the_instance_actor_is_found_through_nodeinfo(pair, application_host):
    a, _b = pair
    added = await cli(a, "neighbours", "add", "commune-c.test")
    assert added.code == 0, added.err
    follow = (await eventually(lambda: _received(application_host), what="the Follow at commune-c.test"))[0]
    assert (follow["type"], follow["actor"], follow["object"]) == \
        ("Follow", "https://commune-a.test/actor", "https://commune-c.test/relay")
    assert await states(a, "commune-c.test") == ("requested", "none")
    # It publishes no territory: no communes, and that is not an error.
    assert "0 communes" in added.out


async def _received(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(received)
