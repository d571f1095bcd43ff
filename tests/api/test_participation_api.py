"""The participation endpoints (`/api/v1/events/:id/join|leave|participants...`) on a live instance: local
events, every refusal a clear 4xx with `{"error": ...}`, the organiser's team deciding, privacy of the list.
Federation of the same rules is in tests/test_participation.py."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from fediverse.models import Event, Participation, Status, TeamMember, User
from outbox.events import EventCommands, event_spec
from tests.conftest import issue_token
from tests.federation_steps import count, make_account, outbox
from tests.live import LiveInstance

A = "https://commune-a.test"


class Api:
    """aiohttp with one account's token: every answer must be JSON, never a 500."""

    def __init__(self, http: aiohttp.ClientSession, token: str | None) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.http.request(method, f"{A}{path}", headers=self.headers, **kwargs) as response:
            body = await response.json(content_type=None)
            assert response.status < 500, body
            return response.status, body, response


@pytest.fixture
async def town(make_instance: Any) -> dict[str, Any]:
    a = await make_instance("commune-a.test")
    people = {name: await make_account(a, name) for name in ("alice", "carol", "dave")}
    asso = await make_account(a, "comite", kind="association")
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context()))
    apis = {name: Api(http, await issue_token(a, actor.id)) for name, actor in people.items()}
    apis["anonymous"] = Api(http, None)
    apis["read_only"] = Api(http, await issue_token(a, people["dave"].id, scopes="read"))
    yield {"a": a, "asso": asso, "http": http, **people, **{f"{n}_api": api for n, api in apis.items()}}
    await http.close()


def start_in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


async def make_event(instance: LiveInstance, organiser_id: int, **fields: Any) -> Status:
    raw = {"title": "Troc de plantes", "description": "Apportez vos boutures", "start": start_in(3), **fields}
    event = await EventCommands(instance.runtime).create_event(organiser_id, event_spec(raw))
    async with instance.runtime.sessions() as session:
        status = await session.get(Status, event.status_id)
    assert status is not None
    return status


async def test_join_and_leave_a_free_event_answer_the_participation_and_the_counts(town):
    a, api = town["a"], town["carol_api"]
    status = await make_event(a, town["alice"].id, capacity=2)
    code, body, _ = await api.call("POST", f"/api/v1/events/{status.id}/join", json={"message": "Avec des boutures"})
    assert code == 200
    assert body["event_id"] == str(status.id) and body["participant_count"] == 1 and body["remaining_capacity"] == 1
    assert body["participation"]["state"] == "accepted" and body["participation"]["message"] == "Avec des boutures"
    assert body["participation"]["account"]["acct"] == "carol"
    # Joining again changes nothing; the event's own id works as well as its status id.
    event_id = (await _event_of(a, status)).id
    code, again, _ = await api.call("POST", f"/api/v1/events/{event_id}/join")
    assert code == 200 and again["participation"]["id"] == body["participation"]["id"]
    assert again["participant_count"] == 1
    code, body, _ = await api.call("POST", f"/api/v1/events/{status.id}/leave")
    assert code == 200 and body["participation"] is None and body["participant_count"] == 0
    code, body, _ = await api.call("POST", f"/api/v1/events/{status.id}/leave")
    assert code == 200 and body["participant_count"] == 0


async def _event_of(instance: LiveInstance, status: Status) -> Event:
    async with instance.runtime.sessions() as session:
        event = await session.scalar(select(Event).where(Event.status_id == status.id))
    assert event is not None
    return event


async def test_refusals_are_clear_errors_and_change_nothing(town):
    a, carol, dave = town["a"], town["carol_api"], town["dave_api"]
    alice_id = town["alice"].id
    full = await make_event(a, alice_id, capacity=1)
    external = await make_event(a, alice_id, join_mode="external", external_url="https://billetterie.example/troc")
    cancelled = await make_event(a, alice_id, status="CANCELLED")
    over = await make_event(a, alice_id, start=start_in(-2), end=start_in(-1))
    note = await outbox(a).publish(alice_id, "<p>Pas un événement</p>")
    assert (await carol.call("POST", f"/api/v1/events/{full.id}/join"))[0] == 200
    cases = [
        (dave, f"/api/v1/events/{full.id}/join", {}, 422, "this event is full"),
        (dave, f"/api/v1/events/{external.id}/join", {}, 422, "https://billetterie.example/troc"),
        (dave, f"/api/v1/events/{cancelled.id}/join", {}, 422, "cancelled"),
        (dave, f"/api/v1/events/{over.id}/join", {}, 422, "over"),
        (town["alice_api"], f"/api/v1/events/{external.id}/join", {}, 422, "you organise this event"),
        (dave, f"/api/v1/events/{note.id}/join", {}, 404, "Record not found"),
        (dave, "/api/v1/events/12345/join", {}, 404, "Record not found"),
        (dave, "/api/v1/events/abc/join", {}, 404, "Record not found"),
        (dave, f"/api/v1/events/{full.id}/join", {"json": {"message": ["a", "b"]}}, 422, "text"),
        (dave, f"/api/v1/events/{full.id}/join", {"json": {"message": "x" * 2001}}, 422, "2000"),
        (town["anonymous_api"], f"/api/v1/events/{full.id}/join", {}, 401, "token"),
        (town["read_only_api"], f"/api/v1/events/{full.id}/join", {}, 403, "scopes"),
        (dave, f"/api/v1/events/{full.id}/participants?state=maybe", {}, 422, "state"),
    ]
    for api, path, kwargs, status_code, words in cases:
        code, body, _ = await api.call("POST" if path.endswith("join") else "GET", path, **kwargs)
        assert (code, words in body.get("error", "")) == (status_code, True), (path, kwargs, body)
    assert await count(a, Participation) == 1


async def test_the_organiser_team_sees_and_decides_others_see_only_counts_and_themselves(town):
    a, asso = town["a"], town["asso"]
    async with a.runtime.transaction() as session:  # alice runs the association's team
        user_id = await session.scalar(select(User.id).where(User.actor_id == town["alice"].id))
        session.add(TeamMember(actor_id=asso.id, user_id=user_id, role="editor", state="active"))
    status = await make_event(a, asso.id, join_mode="restricted", capacity=1)
    base = f"/api/v1/events/{status.id}"
    for name in ("carol", "dave"):
        code, body, _ = await town[f"{name}_api"].call("POST", f"{base}/join", data={"message": f"moi, {name}"})
        assert code == 200 and body["participation"]["state"] == "pending" and body["participant_count"] == 0

    code, body, response = await town["alice_api"].call("GET", f"{base}/participants?limit=1")
    assert code == 200 and [p["account"]["acct"] for p in body["participants"]] == ["dave"]
    assert 'rel="next"' in response.headers["Link"]
    code, body, _ = await town["alice_api"].call("GET", f"{base}/participants?state=pending")
    assert [(p["account"]["acct"], p["message"]) for p in body["participants"]] == [
        ("dave", "moi, dave"), ("carol", "moi, carol")]
    code, body, _ = await town["carol_api"].call("GET", f"{base}/participants")
    assert code == 200 and [p["account"]["acct"] for p in body["participants"]] == ["carol"]
    assert body["participant_count"] == 0 and body["remaining_capacity"] == 1

    carol_id, dave_id = town["carol"].id, town["dave"].id
    code, body, _ = await town["dave_api"].call("POST", f"{base}/participants/{carol_id}/authorize")
    assert code == 403 and "organiser" in body["error"]
    code, body, _ = await town["alice_api"].call("POST", f"{base}/participants/{carol_id}/authorize")
    assert code == 200 and body["state"] == "accepted" and body["remaining_capacity"] == 0
    code, body, _ = await town["alice_api"].call("POST", f"{base}/participants/{dave_id}/authorize")
    assert code == 422 and "full" in body["error"]
    code, body, _ = await town["alice_api"].call("POST", f"{base}/participants/{town['alice'].id}/authorize")
    assert code == 404
    code, body, _ = await town["alice_api"].call("POST", f"{base}/participants/{carol_id}/reject")
    assert code == 200 and body["state"] == "rejected" and body["participant_count"] == 0
    code, body, _ = await town["alice_api"].call("POST", f"{base}/participants/{dave_id}/authorize")
    assert code == 200 and body["state"] == "accepted" and body["participant_count"] == 1
    # A declined participant cannot join again on their own.
    code, body, _ = await town["carol_api"].call("POST", f"{base}/join")
    assert code == 422 and "declined" in body["error"]
