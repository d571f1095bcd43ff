"""PDF documents in the media pipeline (fediverse/media/documents.py): recognised by their bytes, checked
to be complete, stored unchanged as an attachment of kind "unknown", and served as a download."""

from __future__ import annotations

import pytest

from fediverse.media import MediaError, store_upload
from fediverse.media.documents import download_headers
from fediverse.runtime import Runtime
from tests.web.directory_steps import pdf_bytes


async def test_a_pdf_is_stored_unchanged_whatever_its_name_or_declared_type(runtime: Runtime) -> None:
    data = pdf_bytes()
    stored = await store_upload(runtime, data, filename="photo.jpg", declared_type="image/jpeg")
    assert (stored.kind, stored.media_type, stored.size) == ("unknown", "application/pdf", len(data))
    assert stored.file_name.endswith(".pdf") and stored.preview_url is None
    assert (runtime.settings.data_dir / "media" / stored.file_name).read_bytes() == data


@pytest.mark.parametrize(("data", "purpose", "words"), [
    (pdf_bytes()[:120], "attachment", "incomplete"),
    (b"%PDF-x.y\n%%EOF\n", "attachment", "damaged"),
    (pdf_bytes(), "avatar", "must be an image"),
])
async def test_a_broken_pdf_or_a_pdf_avatar_is_refused(runtime: Runtime, data: bytes, purpose: str,
                                                        words: str) -> None:
    with pytest.raises(MediaError, match=words):
        await store_upload(runtime, data, purpose=purpose)  # type: ignore[arg-type]


def test_only_pdf_files_are_served_as_downloads() -> None:
    assert download_headers("/data/media/attachments/ab/cd/0123abcd.pdf") == {
        "Content-Type": "application/pdf", "Content-Disposition": 'attachment; filename="0123abcd.pdf"'}
    assert download_headers("/data/media/attachments/ab/cd/0123abcd.png") == {}
