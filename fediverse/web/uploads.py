"""Photos attached from the website's forms (posts, ads, events), with their descriptions (alt text).

A form has up to four file slots (`photo_1` ... `photo_4`, each with `photo_N_alt`). Every file is
stored as soon as it arrives (the same media pipeline as the Mastodon API: checked, re-encoded,
stripped of metadata), so a form shown again (a mistake elsewhere, or a missing description) keeps
the photos already sent: they come back as `kept_media` ids with a `media_ID_alt` field each, and
nobody has to pick the file again.

A photo without a description is not refused but questioned: the form comes back with a warning,
and the person either describes it or ticks "publish without a description" (`without_alt`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.datastructures import FormData, UploadFile

from fediverse.media.attachments import create_attachment, find_unattached, update_attachment
from fediverse.media.errors import MediaError, MediaNotFound
from fediverse.models import Attachment
from fediverse.runtime import Runtime

MAX_PHOTOS = 4
SLOTS = tuple(range(1, MAX_PHOTOS + 1))
MAX_ID_DIGITS = 19


@dataclass
class KeptPhoto:
    """An uploaded photo not yet posted, as the form shows it again."""

    id: int
    preview_url: str
    description: str


@dataclass
class PhotoProblem:
    """A photo that could not be used: `slot` (1-4) or None for the form as a whole; the media
    layer's reason (English; the template shows a translated sentence with it)."""

    slot: int | None
    reason: str

    @property
    def kind(self) -> str:
        """What went wrong, for a sentence in the reader's language: "count", "size", "type",
        "damaged" or "other" (the media layer's own words are shown with it)."""
        text = self.reason.lower()
        if text.startswith("at most"):
            return "count"
        if "too large" in text or "too long" in text or "larger than" in text:
            return "size"
        if "not supported" in text or "must be an image" in text or "only photos" in text or "not that" in text:
            return "type"
        if "could not be" in text or "empty" in text or "no pixels" in text or "corrupt" in text:
            return "damaged"
        return "other"


@dataclass
class PhotoInput:
    photos: list[KeptPhoto] = field(default_factory=list)
    problems: list[PhotoProblem] = field(default_factory=list)
    without_alt: bool = False

    @property
    def ids(self) -> list[int]:
        return [photo.id for photo in self.photos]

    @property
    def missing_alt(self) -> bool:
        """Some photo has no description and the person did not say to publish it so."""
        return not self.without_alt and any(not photo.description.strip() for photo in self.photos)

    @property
    def ready(self) -> bool:
        return not self.problems and not self.missing_alt


def _kept(row: Attachment) -> KeptPhoto:
    return KeptPhoto(id=row.id, preview_url=row.preview_url or row.url, description=row.description or "")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def _keep_earlier(runtime: Runtime, actor_id: int, form: FormData, result: PhotoInput) -> None:
    """Photos sent with an earlier try of this form: still the person's, still unposted, described anew."""
    seen: set[int] = set()
    for value in form.getlist("kept_media"):
        if not isinstance(value, str) or not value.isdigit() or len(value) > MAX_ID_DIGITS:
            continue
        media_id = int(value)
        if media_id in seen:
            continue
        seen.add(media_id)
        try:
            await find_unattached(runtime, actor_id, media_id)
            row = await update_attachment(runtime, actor_id, media_id, description=_text(form, f"media_{media_id}_alt"),
                                          description_given=True)
        except MediaNotFound:
            continue  # posted meanwhile, deleted, or not theirs: silently not kept
        except MediaError as exc:
            result.problems.append(PhotoProblem(None, str(exc)))
            continue
        result.photos.append(_kept(row))


async def read_photos(runtime: Runtime, actor_id: int, form: FormData) -> PhotoInput:
    """Store the form's new photos and collect the ones kept from an earlier try (owned by `actor_id`,
    the account the post is written as)."""
    result = PhotoInput(without_alt=_text(form, "without_alt") == "1")
    await _keep_earlier(runtime, actor_id, form, result)
    for slot in SLOTS:
        upload = form.get(f"photo_{slot}")
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        data = await upload.read()
        if not data:
            continue
        if len(result.photos) >= MAX_PHOTOS:
            result.problems.append(PhotoProblem(slot, f"At most {MAX_PHOTOS} photos"))
            continue
        try:
            row = await create_attachment(runtime, actor_id, data, filename=upload.filename,
                                          declared_type=upload.content_type,
                                          description=_text(form, f"photo_{slot}_alt"))
        except MediaError as exc:
            result.problems.append(PhotoProblem(slot, str(exc)))
            continue
        if row.kind != "image":
            result.problems.append(PhotoProblem(slot, "Only photos and pictures can be attached here"))
            continue
        result.photos.append(_kept(row))
    return result
