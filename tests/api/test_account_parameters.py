"""Edge cases of how the account endpoints read their parameters (fediverse/api/params.py): malformed
ids, odd JSON shapes and the Rails encodings of profile fields always get a clear answer — a 404,
a 400 or a 422 with a JSON error, or the value being ignored — and never a server error."""

from __future__ import annotations

import aiohttp
import pytest

from tests.api.test_accounts import raw, start  # noqa: F401  (fixture)
from tests.conftest import issue_token
from tests.federation_steps import make_account

# Not ids: past PostgreSQL's bigint, 20 digits, a superscript digit that str.isdigit() accepts, a sign.
NOT_IDS = ("9223372036854775808", "99999999999999999999", "%C2%B2", "-1")


@pytest.fixture
async def commune_a(start):  # noqa: F811
    return await start("commune-a.test")


async def test_malformed_account_ids_in_paths_are_not_found(commune_a):
    alice = await make_account(commune_a, "alice")
    token = await issue_token(commune_a, alice.id)
    for not_id in NOT_IDS:
        for method, path in (("GET", f"/api/v1/accounts/{not_id}"), ("GET", f"/api/v1/accounts/{not_id}/statuses"),
                             ("GET", f"/api/v1/accounts/{not_id}/followers"),
                             ("POST", f"/api/v1/accounts/{not_id}/follow"),
                             ("POST", f"/api/v1/accounts/{not_id}/mute"),
                             ("POST", f"/api/v1/follow_requests/{not_id}/authorize")):
            status, body, _ = await raw(commune_a, method, path, token)
            assert (status, body) == (404, {"error": "Record not found"}), (method, path)


async def test_malformed_ids_in_lists_are_skipped(commune_a):
    alice = await make_account(commune_a, "alice")
    carol = await make_account(commune_a, "carol")
    token = await issue_token(commune_a, alice.id)
    query = f"id[]={carol.id}&id[]=9223372036854775808&id[]=abc&id[]=%C2%B2&id[]={carol.id}"
    status, body, _ = await raw(commune_a, "GET", f"/api/v1/accounts/relationships?{query}", token)
    assert status == 200 and [rel["id"] for rel in body] == [str(carol.id)]
    status, body, _ = await raw(commune_a, "GET", f"/api/v1/accounts?{query}", token)
    assert status == 200 and [account["id"] for account in body] == [str(carol.id)]
    status, body, _ = await raw(commune_a, "GET", f"/api/v1/accounts/familiar_followers?{query}", token)
    assert status == 200 and body == [{"id": str(carol.id), "accounts": []}]
    too_many = "&".join(f"id[]={n}" for n in range(1, 42))
    status, body, _ = await raw(commune_a, "GET", f"/api/v1/accounts?{too_many}", token)
    assert status == 422 and "id" in body["details"]


async def test_search_limit_and_offset_must_be_numbers(commune_a):
    alice = await make_account(commune_a, "alice")
    await make_account(commune_a, "carol")
    token = await issue_token(commune_a, alice.id)
    for name in ("limit", "offset"):
        status, body, _ = await raw(commune_a, "GET", f"/api/v1/accounts/search?q=car&{name}=many", token)
        assert status == 422 and body["error"] == f"Validation failed: {name} must be a number"
        assert name in body["details"]
    status, body, _ = await raw(commune_a, "GET", "/api/v1/accounts/search?q=car&limit=&offset=", token)
    assert status == 200 and [account["username"] for account in body] == ["carol"]


async def test_update_credentials_reads_json_and_rails_encodings_and_refuses_a_broken_body(commune_a):
    alice = await make_account(commune_a, "alice", display_name="Alice")
    token = await issue_token(commune_a, alice.id, "write:accounts")
    path = "/api/v1/accounts/update_credentials"
    status, body, _ = await raw(commune_a, "PATCH", path, token,
                                data=aiohttp.BytesPayload(b"{not json", content_type="application/json"))
    assert (status, body) == (400, {"error": "The request body is not valid JSON"})
    status, body, _ = await raw(commune_a, "PATCH", path, token, json=["display_name", "Mallory"])
    assert (status, body) == (400, {"error": "The request body must be a JSON object"})
    # A list or a hash where one value is expected is ignored, as Rails' strong parameters drop it.
    status, body, _ = await raw(commune_a, "PATCH", path, token,
                                json={"display_name": ["Mallory"], "locked": {"yes": 1}, "note": "Bonjour",
                                      "bot": "1", "source": {"sensitive": "t", "privacy": ["direct"]}})
    assert status == 200 and body["display_name"] == "Alice" and body["locked"] is False
    assert body["source"]["note"] == "Bonjour" and body["bot"] is True
    assert body["source"]["sensitive"] is True and body["source"]["privacy"] == "public"
    # `fields_attributes[][name]` / `[][value]` pairs, in the order sent.
    status, body, _ = await raw(commune_a, "PATCH", path, token, data=[
        ("fields_attributes[][name]", "Quartier"), ("fields_attributes[][value]", "Centre"),
        ("fields_attributes[][name]", "Site"), ("fields_attributes[][value]", "  https://fetes.example/ ")])
    assert status == 200 and [(f["name"], f["value"]) for f in body["source"]["fields"]] == [
        ("Quartier", "Centre"), ("Site", "https://fetes.example/")]
    # A JSON object keyed by position is ordered by it; an empty `fields_attributes` clears them.
    status, body, _ = await raw(commune_a, "PATCH", path, token, json={"fields_attributes": {
        "1": {"name": "Second", "value": "2"}, "0": {"name": "Premier", "value": "1"}}})
    assert status == 200 and [f["name"] for f in body["fields"]] == ["Premier", "Second"]
    status, body, _ = await raw(commune_a, "PATCH", path, token, data={"fields_attributes": ""})
    assert status == 200 and body["fields"] == [] and body["source"]["fields"] == []
