"""PDF documents (a town hall's minutes, an association's programme) in the upload pipeline.

Images, video and audio are recognised by `detection`; a PDF is recognised here, by its magic
bytes only (`%PDF-` at the very start; a file name or a declared type is never trusted), and
checked to be complete (the `%%EOF` marker near its end), since a half-uploaded PDF shows as a
blank or broken document. It is stored as uploaded: there is no PDF library among the
dependencies to rewrite it, so unlike photos its metadata is not removed.

A document becomes an attachment of kind "unknown" (Mastodon's name for what is neither image,
video nor audio, and what the inbox stores for remote documents), with `application/pdf`: it
federates as a `Document` with that media type. The /media mount serves it with a
`Content-Disposition` naming a `.pdf` file (`download_headers`), so a browser saves it instead of
rendering content from our origin.
"""

from __future__ import annotations

from pathlib import PurePath

from fediverse.media.errors import MediaError
from fediverse.media.results import Encoded, Processed

PDF_MAGIC = b"%PDF-"
PDF_TYPE = "application/pdf"
DOCUMENT_KIND = "unknown"
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
# The end-of-file marker must be in the last kilobyte (PDF readers look there; trailing garbage is common).
EOF_WINDOW = 1024


def is_pdf(data: bytes) -> bool:
    """Whether the bytes claim to be a PDF (the magic bytes of every PDF version)."""
    return data.startswith(PDF_MAGIC)


def process_document(data: bytes, purpose: str) -> Processed:
    """A PDF as the pipeline stores it: checked, unchanged. MediaError says what is wrong."""
    if purpose != "attachment":
        raise MediaError(f"The {purpose} must be an image (JPEG, PNG, WebP or GIF)")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise MediaError(f"File too large: documents up to {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB")
    version = data[len(PDF_MAGIC):len(PDF_MAGIC) + 3]
    if len(version) < 3 or not (version[:1].isdigit() and version[1:2] == b"." and version[2:3].isdigit()):
        raise MediaError("This PDF document could not be read (its header is damaged)")
    if b"%%EOF" not in data[-EOF_WINDOW:]:
        raise MediaError("This PDF document is incomplete (was the upload interrupted?)")
    return Processed(DOCUMENT_KIND, Encoded(data, PDF_TYPE, "pdf"), meta={"size": len(data)})


def is_document_path(path: str) -> bool:
    return PurePath(path).suffix.lower() == ".pdf"


def download_headers(path: str) -> dict[str, str]:
    """Headers for serving a stored file: a PDF is a download named after its stored (random) name."""
    if not is_document_path(path):
        return {}
    name = PurePath(path).name
    safe = "".join(c for c in name if c.isalnum() or c in "-_.") or "document.pdf"
    return {"Content-Type": PDF_TYPE, "Content-Disposition": f'attachment; filename="{safe}"'}
