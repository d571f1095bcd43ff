"""Editing a local account's profile, whichever edge asks (the website's settings page and the Mastodon
API's update_credentials): Mastodon's limits, profile fields kept with the text the
person typed and its linkified HTML, avatar and header pictures through the shared media code, and the
change federated as an `Update` of the actor by `Outbox.update_profile`.

Every problem of an edit is found before anything is stored, so a refused edit changes nothing. New
pictures are deleted again when the change fails; replaced ones only once the change is committed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from fediverse.media import MediaError, discard, media_storage, store_upload
from fediverse.models import Actor
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text, text_to_html
from outbox.commands import Outbox

MAX_DISPLAY_NAME = 30
MAX_NOTE = 500
MAX_FIELDS = 4
MAX_FIELD_TEXT = 255
PictureKind = Literal["avatar", "header"]
# Which columns hold each picture and its still first frame (animated pictures only).
PICTURE_COLUMNS: dict[PictureKind, tuple[str, str]] = {"avatar": ("icon_url", "icon_static_url"),
                                                       "header": ("image_url", "image_static_url")}


class ProfileError(ValueError):
    """Why an edit is refused: `reason` is a stable code edges translate, `field` the form field."""

    def __init__(self, reason: str, field: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.field = field
        self.detail = detail


@dataclass
class ProfileField:
    """One name/value line of a profile, as typed (white space folded)."""

    name: str
    value: str


@dataclass
class PictureUpload:
    """An uploaded avatar or header: the bytes, and what the client claimed (only used to word errors)."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass
class ProfileEdit:
    """The changes asked for; None leaves a value as it is."""

    display_name: str | None = None
    note: str | None = None
    fields: list[ProfileField] | None = None
    discoverable: bool | None = None
    manually_approves_followers: bool | None = None
    bot: bool | None = None
    pictures: dict[PictureKind, PictureUpload] = field(default_factory=dict)
    removed_pictures: set[PictureKind] = field(default_factory=set)


def folded(text: str) -> str:
    return " ".join(text.split())


def field_html(value: str) -> str:
    """A profile field value as Mastodon shows it: escaped text with its links made clickable."""
    rendered = text_to_html(value)
    if rendered.startswith("<p>") and rendered.endswith("</p>"):
        rendered = rendered[3:-4]
    return rendered


def stored_fields(actor: Actor) -> list[ProfileField]:
    """The actor's fields as the person typed them (for a form to show again)."""
    rows = [f for f in json.loads(actor.fields_json or "[]") if isinstance(f, dict)]
    return [ProfileField(str(f.get("name", "")), str(f.get("source_value", html_to_text(f.get("value", "")))))
            for f in rows]


def problems_of(edit: ProfileEdit) -> list[ProfileError]:
    """Every reason the edit cannot be saved (all of them, so a form can show them together)."""
    problems = []
    if edit.display_name is not None and len(edit.display_name.strip()) > MAX_DISPLAY_NAME:
        problems.append(ProfileError("display_name_too_long", "display_name"))
    if edit.note is not None and len(edit.note) > MAX_NOTE:
        problems.append(ProfileError("note_too_long", "note"))
    if edit.fields is not None:
        kept = [f for f in edit.fields if folded(f.name) or folded(f.value)]
        if len(kept) > MAX_FIELDS:
            problems.append(ProfileError("too_many_fields", "fields"))
        for position, entry in enumerate(edit.fields, start=1):
            if len(folded(entry.name)) > MAX_FIELD_TEXT or len(folded(entry.value)) > MAX_FIELD_TEXT:
                problems.append(ProfileError("field_too_long", f"field_{position}"))
    return problems


def _changes(edit: ProfileEdit) -> dict[str, Any]:
    """The columns of `Outbox.update_profile` the edit changes (already checked)."""
    changes: dict[str, Any] = {}
    if edit.display_name is not None:
        changes["display_name"] = edit.display_name.strip()
    if edit.note is not None:
        changes["summary"] = text_to_html(edit.note)
        changes["source_note"] = edit.note
    if edit.discoverable is not None:
        changes["discoverable"] = edit.discoverable
    if edit.manually_approves_followers is not None:
        changes["manually_approves_followers"] = edit.manually_approves_followers
    if edit.bot is not None:
        changes["bot"] = edit.bot
    if edit.fields is not None:
        entries = [ProfileField(folded(f.name), folded(f.value)) for f in edit.fields]
        changes["fields_json"] = json.dumps(
            [{"name": f.name, "value": field_html(f.value), "source_value": f.value}
             for f in entries if f.name or f.value],
            ensure_ascii=False)
    return changes


async def save_profile(runtime: Runtime, actor_id: int, edit: ProfileEdit) -> Actor:
    """Apply the edit to a local account and federate it; ProfileError (nothing changed) when refused.

    A picture the media code refuses (not an image, too large, corrupt) is a ProfileError on its field
    carrying the media code's explanation."""
    problems = problems_of(edit)
    if problems:
        raise problems[0]
    changes = _changes(edit)
    async with runtime.sessions() as session:
        current = await session.get(Actor, actor_id)
        if current is None:
            raise ProfileError("no_account", "account")
        before = {column: getattr(current, column) for pair in PICTURE_COLUMNS.values() for column in pair}
    stored: list[str] = []
    replaced: list[str | None] = []
    try:
        for kind, (column, static_column) in PICTURE_COLUMNS.items():
            upload = edit.pictures.get(kind)
            if upload is not None:
                try:
                    picture = await store_upload(runtime, upload.data, filename=upload.filename,
                                                 declared_type=upload.content_type, purpose=kind)
                except MediaError as exc:
                    raise ProfileError("bad_picture", kind, str(exc)) from exc
                stored.extend(picture.file_names)
                # The still first frame is kept only for animated pictures (Mastodon's avatar_static).
                changes[column] = picture.url
                changes[static_column] = picture.preview_url if picture.preview_file_name else None
            elif kind in edit.removed_pictures:
                changes[column] = changes[static_column] = None
            else:
                continue
            replaced += [before[column], before[static_column]]
        actor = await Outbox(runtime).update_profile(actor_id, **changes) if changes else current
    except BaseException:
        await discard(runtime, *stored)
        raise
    storage = media_storage(runtime.settings)
    await discard(runtime, *(storage.name_for_url(url) for url in replaced))
    return actor
