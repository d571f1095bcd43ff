"""`/settings/profile`: the profile of the identity the person acts as (display name, bio, avatar and
header, up to four profile fields, discoverable, manually approved followers) and the person's own
preferences (interface language, default visibility of their posts).

A team account's profile is edited by the team's admins only (editors publish, admins manage). The
profile goes through `outbox.profile_edit.save_profile`, which checks it, stores the pictures with
the shared media code and federates the change as an `Update` through `Outbox.update_profile`, exactly
as the Mastodon API's update_credentials does. A refused form comes back with every problem listed,
the values typed kept, and nothing saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from actors import teams
from actors.interface_language import set_interface_language
from actors.preferences import DEFAULT_VISIBILITIES, update_posting_defaults
from actors.teams import record_if_team_action
from fediverse.runtime import Runtime
from fediverse.sanitize import html_to_text
from fediverse.templating import LANGUAGES
from fediverse.web.auth import LANGUAGE_COOKIE, SignedIn, page, sign_in_redirect, signed_in
from fediverse.web.language import ONE_YEAR
from fediverse.web.settings_common import done, done_notice, gettext_of, posted_form, text
from outbox.commands import CommandError
from outbox.profile_edit import (
    MAX_DISPLAY_NAME,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    MAX_NOTE,
    PictureKind,
    PictureUpload,
    ProfileEdit,
    ProfileError,
    ProfileField,
    problems_of,
    save_profile,
    stored_fields,
)

PATH = "/settings/profile"
NOTICES = ("profile", "preferences")
PICTURES: tuple[PictureKind, ...] = ("avatar", "header")


@dataclass
class ProfileForm:
    """What the profile form shows: the values (saved, or typed), and what was wrong with them."""

    display_name: str = ""
    note: str = ""
    fields: list[ProfileField] = field(default_factory=list)
    discoverable: bool = True
    locked: bool = False
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field id, message)

    def error(self, field_id: str) -> str | None:
        return next((message for name, message in self.errors if name == field_id), None)


@dataclass
class PreferencesForm:
    locale: str = "fr"
    default_visibility: str = "public"
    errors: list[tuple[str, str]] = field(default_factory=list)

    def error(self, field_id: str) -> str | None:
        return next((message for name, message in self.errors if name == field_id), None)


def _padded(fields: list[ProfileField]) -> list[ProfileField]:
    """Always MAX_FIELDS lines on the form, the empty ones last."""
    return [*fields[:MAX_FIELDS], *(ProfileField("", "") for _ in range(MAX_FIELDS - len(fields)))]


async def _may_edit(runtime: Runtime, viewer: SignedIn) -> bool:
    """A person edits their own profile; a team account's, when they are an admin of its team (or of the site)."""
    if not viewer.acts_for_team or viewer.user.is_admin:
        return True
    async with runtime.sessions() as session:
        row = await teams.membership(session, viewer.acting.id, viewer.user.id)
    return row is not None and row.state == "active" and row.role == "admin"


def _saved_profile(viewer: SignedIn) -> ProfileForm:
    actor = viewer.acting
    return ProfileForm(display_name=actor.display_name or "",
                       note=actor.source_note if actor.source_note is not None else html_to_text(actor.summary),
                       fields=_padded(stored_fields(actor)), discoverable=actor.discoverable,
                       locked=actor.manually_approves_followers)


def _saved_preferences(viewer: SignedIn) -> PreferencesForm:
    return PreferencesForm(locale=viewer.user.locale if viewer.user.locale in LANGUAGES else "fr",
                           default_visibility=viewer.user.default_visibility)


async def _show(request: Request, viewer: SignedIn, *, status_code: int = 200, profile: ProfileForm | None = None,
                preferences: PreferencesForm | None = None) -> Response:
    runtime: Runtime = request.app.state.runtime
    return page(request, "settings/profile.html", viewer, status_code=status_code,
                identity=viewer.acting, may_edit=await _may_edit(runtime, viewer),
                profile=profile or _saved_profile(viewer), preferences=preferences or _saved_preferences(viewer),
                notice=done_notice(request, NOTICES), languages=LANGUAGES,
                limits={"display_name": MAX_DISPLAY_NAME, "note": MAX_NOTE, "field": MAX_FIELD_TEXT},
                handle=viewer.acting.handle(runtime.settings.domain))


async def profile_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    return await _show(request, viewer)


def _picture_problem(gettext: Callable[[str], str], kind: str, detail: str) -> str:
    """The media code's refusal (English, for developers too) as a sentence a person can act on."""
    what = gettext("The profile picture") if kind == "avatar" else gettext("The header image")
    lowered = detail.lower()
    if "too large" in lowered:
        reason = gettext("it is too large.")
    elif "not supported" in lowered or "must be an image" in lowered or "not supported by this server" in lowered:
        reason = gettext("it is not a JPEG, PNG, WebP or GIF image.")
    elif "decoded" in lowered or "empty" in lowered or "no pixels" in lowered:
        reason = gettext("the file is damaged or empty.")
    else:
        reason = detail
    return gettext("%(what)s could not be used: %(reason)s") % {"what": what, "reason": reason}


def _say(gettext: Callable[[str], str], error: ProfileError) -> tuple[str, str]:
    """A refused edit as (field id, message in the reader's language)."""
    if error.reason == "bad_picture":
        return error.field, _picture_problem(gettext, error.field, error.detail)
    messages = {
        "display_name_too_long": gettext("The display name is too long: at most %(max)s characters.")
        % {"max": MAX_DISPLAY_NAME},
        "note_too_long": gettext("The bio is too long: at most %(max)s characters.") % {"max": MAX_NOTE},
        "too_many_fields": gettext("A profile has at most %(max)s fields.") % {"max": MAX_FIELDS},
    }
    if error.reason == "field_too_long":
        number = error.field.removeprefix("field_")
        return f"field_{number}_name", gettext(
            "Profile field %(number)s is too long: names and values have at most %(max)s characters.") % {
            "number": number, "max": MAX_FIELD_TEXT}
    return error.field, messages.get(error.reason, str(error))


async def _pictures(form: FormData) -> dict[PictureKind, PictureUpload]:
    """The avatar and header files chosen (an empty file input sends a nameless, empty part)."""
    chosen: dict[PictureKind, PictureUpload] = {}
    for kind in PICTURES:
        upload = form.get(kind)
        if isinstance(upload, UploadFile):
            data = await upload.read()
            if data or upload.filename:
                chosen[kind] = PictureUpload(data, upload.filename, upload.content_type)
    return chosen


async def update_profile(request: Request) -> Response:
    viewer, form, refusal = await posted_form(request, back_to=PATH)
    if refusal is not None or viewer is None:
        return refusal or sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    gettext = gettext_of(request, viewer)
    if not await _may_edit(runtime, viewer):
        return page(request, "auth/refused.html", viewer, status_code=403, reason="team",
                    message=gettext("Only the admins of the team can change this account's profile."))
    typed = ProfileForm(display_name=text(form, "display_name"), note=text(form, "note"),
                        fields=[ProfileField(text(form, f"field_{n}_name"), text(form, f"field_{n}_value"))
                                for n in range(1, MAX_FIELDS + 1)],
                        discoverable=bool(text(form, "discoverable")), locked=bool(text(form, "locked")))
    if text(form, "actor_id") != str(viewer.acting.id):
        # Written for another identity (switched in another tab): never save it under this one's name.
        current = _saved_profile(viewer)
        current.errors.append(("display_name", gettext(
            "You now act as %(name)s. Check the profile below, then save it again.") % {
            "name": viewer.acting.display_name or viewer.acting.username}))
        return await _show(request, viewer, status_code=409, profile=current)
    edit = ProfileEdit(display_name=typed.display_name, note=typed.note, fields=typed.fields,
                       discoverable=typed.discoverable, manually_approves_followers=typed.locked,
                       pictures=await _pictures(form),
                       removed_pictures={kind for kind in PICTURES if text(form, f"remove_{kind}")})
    typed.errors = [_say(gettext, problem) for problem in problems_of(edit)]
    if typed.errors:
        return await _show(request, viewer, status_code=422, profile=typed)
    try:
        actor = await save_profile(runtime, viewer.acting.id, edit)
    except ProfileError as exc:  # a picture the media code refused
        typed.errors = [_say(gettext, exc)]
        return await _show(request, viewer, status_code=422, profile=typed)
    except CommandError as exc:
        typed.errors = [("display_name", str(exc))]
        return await _show(request, viewer, status_code=422, profile=typed)
    await record_if_team_action(runtime, viewer, "account.update", actor.uri)
    return done(PATH, "profile")


async def update_preferences(request: Request) -> Response:
    """The person's own interface language and default post visibility (whoever they act as)."""
    viewer, form, refusal = await posted_form(request, back_to=PATH)
    if refusal is not None or viewer is None:
        return refusal or sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    gettext = gettext_of(request, viewer)
    typed = PreferencesForm(locale=text(form, "locale"), default_visibility=text(form, "default_visibility"))
    if typed.locale not in LANGUAGES:
        typed.errors.append(("locale", gettext("Choose a language of the list.")))
    if typed.default_visibility not in DEFAULT_VISIBILITIES:
        typed.errors.append(("default_visibility", gettext("Choose who sees your posts by default.")))
    if typed.errors:
        return await _show(request, viewer, status_code=422, preferences=typed)
    await set_interface_language(runtime, viewer.user.id, typed.locale)
    await update_posting_defaults(runtime, viewer.user.id, privacy=typed.default_visibility)
    response = done(PATH, "preferences")
    # Signed out later, this browser keeps the language too.
    response.set_cookie(LANGUAGE_COOKIE, typed.locale, max_age=ONE_YEAR, path="/", httponly=True, samesite="lax",
                        secure=runtime.settings.scheme == "https")
    return response


routes: list[BaseRoute] = [
    Route(PATH, profile_page, methods=["GET"]),
    Route(PATH, update_profile, methods=["POST"]),
    Route("/settings/preferences", update_preferences, methods=["POST"]),
]
