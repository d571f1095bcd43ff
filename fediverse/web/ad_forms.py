"""The forms of the petites annonces: post, edit, close and delete one's ad, and reply privately.

Each goes through the same ad commands as the ads API (outbox.ad_commands), so the status, its ad
row and the Create/Update/Delete that federates are written exactly as from an app; a reply goes
through `Outbox.post` in reply to the ad, which makes it a direct message to the ad's author only.
Everything is done as the identity the person acts as (their own account, or an association or
shop of their team: the team's log records who did it). Photos are stored as soon as they arrive
(fediverse/web/uploads.py), so a form shown again with a mistake keeps them.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from actors.ad_views import AdDetail
from actors.teams import record_if_team_action
from actors.territory import list_communes
from fediverse.ad_terms import CLOSED_MARKS, format_amount
from fediverse.models import Commune
from fediverse.runtime import Runtime
from fediverse.templating import translations
from fediverse.web.ad_form_fields import AdForm, blank_form, check_form, local_day, may_post_ads, typed_form
from fediverse.web.ad_page_view import ReplyForm, readable_ad, render_ad_page
from fediverse.web.auth import SignedIn, csrf_refused, language_of, page, sign_in_redirect, signed_in
from fediverse.web.session import CSRF_FIELD
from fediverse.web.uploads import MAX_PHOTOS, read_photos
from outbox.ad_commands import close_ad, delete_ad, edit_ad, post_ad
from outbox.commands import MAX_TEXT_LENGTH, CommandError, NotFound, Outbox, StatusDraft

NEW_PATH = "/annonces/new"
MAX_ID_DIGITS = 19


def _texts(data: FormData) -> dict[str, str]:
    """Text fields only: a file sent in place of a field counts as an empty field."""
    return {key: value for key, value in data.items() if isinstance(value, str)}


def _ids(data: FormData, name: str) -> set[int]:
    return {int(v) for v in data.getlist(name) if isinstance(v, str) and v.isdigit() and len(v) <= MAX_ID_DIGITS}


def _identity_problem(request: Request, viewer: SignedIn, values: dict[str, str]) -> str | None:
    """Why the form may not be sent as the acting identity, in the reader's language."""
    gettext = translations(language_of(request, viewer)).gettext
    name = viewer.acting.display_name or viewer.acting.username
    if values.get("acting_id") != str(viewer.acting.id):
        # Written as another identity (switched in another tab, or removed from that team since): never
        # publish under a name the writer did not see on the form.
        return gettext("You now act as %(name)s. Check the form, then send it again.") % {"name": name}
    return None


def _kind_problem(request: Request, viewer: SignedIn) -> str | None:
    if may_post_ads(viewer.acting.kind):
        return None
    return translations(language_of(request, viewer)).gettext(
        "Ads are posted by residents, associations and shops: %(name)s cannot post one. Switch identity "
        "at the top of the page to post as yourself.") % {"name": viewer.acting.display_name or viewer.acting.username}


async def _communes(runtime: Runtime) -> list[Commune]:
    async with runtime.sessions() as session:
        return await list_communes(session)


def _form_page(request: Request, viewer: SignedIn, form: AdForm, editing: AdDetail | None = None,
               status_code: int = 200, blocked: bool = False) -> Response:
    return page(request, "ads/form.html", viewer, status_code=status_code, form=form, editing=editing,
                max_photos=MAX_PHOTOS, blocked=blocked)


# -- posting ----------------------------------------------------------------------------------------

async def new_ad_page(request: Request) -> Response:
    viewer = await signed_in(request)
    if viewer is None:
        return sign_in_redirect(request)
    runtime: Runtime = request.app.state.runtime
    form = blank_form(await _communes(runtime), viewer.acting.commune_insee)
    form.problem = _kind_problem(request, viewer)
    return _form_page(request, viewer, form, status_code=403 if form.problem else 200, blocked=bool(form.problem))


async def create_ad(request: Request) -> Response:
    """Post the ad as the acting identity, then show its page (303: a reload does not post it again)."""
    viewer = await signed_in(request)
    if viewer is None:
        return RedirectResponse("/auth/sign_in?next=%2Fannonces%2Fnew", status_code=303)
    runtime: Runtime = request.app.state.runtime
    data = await request.form()
    values = _texts(data)
    if not viewer.session.check_csrf(values.get(CSRF_FIELD)):
        return csrf_refused(request, viewer)
    form = typed_form(values, await _communes(runtime), set())
    form.problem = _identity_problem(request, viewer, values) or _kind_problem(request, viewer)
    if form.problem:
        return _form_page(request, viewer, form, status_code=422)
    form.photos = await read_photos(runtime, viewer.acting.id, data)
    spec = check_form(form, translations(language_of(request, viewer)).gettext)
    if spec is None or not form.photos.ready:
        return _form_page(request, viewer, form, status_code=422)
    spec.media_ids = form.photos.ids
    try:
        ad = await post_ad(Outbox(runtime), viewer.acting.id, spec)
    except (CommandError, NotFound) as exc:
        form.problem = str(exc)
        return _form_page(request, viewer, form, status_code=422)
    path = f"/@{viewer.acting.username}/{ad.status_id}"
    await record_if_team_action(runtime, viewer, "status.create", f"{runtime.settings.base_url}{path}")
    return RedirectResponse(f"{path}?done=posted", status_code=303)


# -- the author's own ad ----------------------------------------------------------------------------

async def _own_ad(request: Request) -> tuple[SignedIn | None, AdDetail | None]:
    """The signed-in visitor and the ad of the path when it is theirs (as the identity they act as)."""
    viewer = await signed_in(request)
    if viewer is None:
        return None, None
    detail = await readable_ad(request.app.state.runtime, request.path_params["ad_id"])
    if detail is None or not detail.card.local or detail.card.author_id != viewer.acting.id:
        return viewer, None
    return viewer, detail


def _not_found(request: Request, viewer: SignedIn | None) -> Response:
    return page(request, "not_found.html", viewer, status_code=404)


def _price_as_typed(cents: int | None, language: str) -> str:
    if cents is None:
        return ""
    amount = format_amount(cents)
    return amount.replace(".", ",") if language == "fr" else amount


async def edit_ad_page(request: Request) -> Response:
    viewer, detail = await _own_ad(request)
    if viewer is None:
        return sign_in_redirect(request)
    if detail is None:
        return _not_found(request, viewer)
    ad = detail.ad
    form = blank_form(await _communes(request.app.state.runtime), ad.commune_insee)
    form.title, form.description, form.category, form.purpose = ad.title, detail.description, ad.category, ad.purpose
    form.price = "" if ad.free else _price_as_typed(ad.price_cents, language_of(request, viewer))
    form.free, form.expires_on, form.existing = ad.free, local_day(ad.expires_at).isoformat(), detail.photos
    return _form_page(request, viewer, form, detail)


async def update_ad(request: Request) -> Response:
    viewer, detail = await _own_ad(request)
    if viewer is None:
        return RedirectResponse("/auth/sign_in", status_code=303)
    if detail is None:
        return _not_found(request, viewer)
    runtime: Runtime = request.app.state.runtime
    data = await request.form()
    values = _texts(data)
    if not viewer.session.check_csrf(values.get(CSRF_FIELD)):
        return csrf_refused(request, viewer)
    form = typed_form(values, await _communes(runtime), _ids(data, "remove_media"))
    form.existing = detail.photos
    form.problem = _identity_problem(request, viewer, values)
    if form.problem:
        return _form_page(request, viewer, form, detail, 422)
    gettext = translations(language_of(request, viewer)).gettext
    form.photos = await read_photos(runtime, viewer.acting.id, data)
    spec = check_form(form, gettext, current_expiry=detail.ad.expires_at)
    if len(form.kept_existing) + len(form.photos.photos) > MAX_PHOTOS:
        form.errors["photos"] = gettext("An ad has at most %(max)s photos: remove some.") % {"max": MAX_PHOTOS}
    if spec is None or form.errors or not form.photos.ready:
        return _form_page(request, viewer, form, detail, 422)
    spec.media_ids = [photo.id for photo in form.kept_existing] + form.photos.ids
    try:
        await edit_ad(Outbox(runtime), viewer.acting.id, detail.ad.id, spec)
    except (CommandError, NotFound) as exc:
        form.problem = str(exc)
        return _form_page(request, viewer, form, detail, 422)
    await record_if_team_action(runtime, viewer, "status.update", detail.status.uri)
    return RedirectResponse(f"{detail.card.path}?done=saved", status_code=303)


async def close(request: Request) -> Response:
    viewer, detail = await _own_ad(request)
    if viewer is None:
        return RedirectResponse("/auth/sign_in", status_code=303)
    if detail is None:
        return _not_found(request, viewer)
    values = _texts(await request.form())
    if not viewer.session.check_csrf(values.get(CSRF_FIELD)):
        return csrf_refused(request, viewer)
    reason = values.get("reason", "")
    if reason not in CLOSED_MARKS:
        return await render_ad_page(request, viewer, detail, status_code=422, close_error=translations(
            language_of(request, viewer)).gettext("Choose why the ad is over."))
    try:
        await close_ad(Outbox(request.app.state.runtime), viewer.acting.id, detail.ad.id, reason)
    except (CommandError, NotFound) as exc:
        return await render_ad_page(request, viewer, detail, status_code=422, close_error=str(exc))
    await record_if_team_action(request.app.state.runtime, viewer, "status.update", detail.status.uri)
    return RedirectResponse(f"{detail.card.path}?done=closed", status_code=303)


async def delete_page(request: Request) -> Response:
    viewer, detail = await _own_ad(request)
    if viewer is None:
        return sign_in_redirect(request)
    if detail is None:
        return _not_found(request, viewer)
    return page(request, "ads/delete.html", viewer, detail=detail, card=detail.card)


async def delete(request: Request) -> Response:
    viewer, detail = await _own_ad(request)
    if viewer is None:
        return RedirectResponse("/auth/sign_in", status_code=303)
    if detail is None:
        return _not_found(request, viewer)
    values = _texts(await request.form())
    if not viewer.session.check_csrf(values.get(CSRF_FIELD)):
        return csrf_refused(request, viewer)
    runtime: Runtime = request.app.state.runtime
    try:
        await delete_ad(Outbox(runtime), viewer.acting.id, detail.ad.id)
    except NotFound:
        return _not_found(request, viewer)
    await record_if_team_action(runtime, viewer, "status.delete", detail.status.uri)
    return RedirectResponse("/annonces?deleted=1", status_code=303)


# -- replying privately -----------------------------------------------------------------------------

async def reply(request: Request) -> Response:
    """A private message to the ad's author: a reply to the ad, which the outbox sends to them alone."""
    viewer = await signed_in(request)
    runtime: Runtime = request.app.state.runtime
    detail = await readable_ad(runtime, request.path_params["ad_id"])
    if detail is None:
        return _not_found(request, viewer)
    if viewer is None:
        return RedirectResponse(f"/auth/sign_in?next={detail.card.path}", status_code=303)
    values = _texts(await request.form())
    if not viewer.session.check_csrf(values.get(CSRF_FIELD)):
        return csrf_refused(request, viewer)
    gettext = translations(language_of(request, viewer)).gettext
    form = ReplyForm(text=values.get("text", ""), idempotency_key=values.get("idempotency_key", "")[:64])
    mention = f"@{detail.author.handle(runtime.settings.domain)} "
    if detail.card.local and detail.card.author_id == viewer.acting.id:
        form.error = gettext("This is your own ad.")
    elif detail.card.state != "open":
        form.error = gettext("This ad is over: its author no longer takes answers here.")
    elif not form.text.strip():
        form.error = gettext("Write your message before sending it.")
    elif len(mention) + len(form.text) > MAX_TEXT_LENGTH:
        form.error = gettext("Your message is too long: at most %(max)s characters.") % {
            "max": MAX_TEXT_LENGTH - len(mention)}
    else:
        form.error = _identity_problem(request, viewer, values)
    if form.error is None:
        draft = StatusDraft(text=mention + form.text.strip(), visibility="direct", in_reply_to_id=detail.status.id,
                            language=viewer.user.default_language or None)
        try:
            status = await Outbox(runtime).post(viewer.acting.id, draft, idempotency_key=form.idempotency_key or None)
        except (CommandError, NotFound) as exc:
            form.error = str(exc)
        else:
            await record_if_team_action(runtime, viewer, "status.create", status.uri)
            return RedirectResponse(f"{detail.card.path}?done=replied", status_code=303)
    return await render_ad_page(request, viewer, detail, status_code=422, reply=form)


routes: list[BaseRoute] = [
    Route(NEW_PATH, new_ad_page, methods=["GET"]),
    Route(NEW_PATH, create_ad, methods=["POST"]),
    Route("/annonces/{ad_id:int}/edit", edit_ad_page, methods=["GET"]),
    Route("/annonces/{ad_id:int}/edit", update_ad, methods=["POST"]),
    Route("/annonces/{ad_id:int}/close", close, methods=["POST"]),
    Route("/annonces/{ad_id:int}/delete", delete_page, methods=["GET"]),
    Route("/annonces/{ad_id:int}/delete", delete, methods=["POST"]),
    Route("/annonces/{ad_id:int}/reply", reply, methods=["POST"]),
]
