"""What processing an upload produces, from the encoded bytes to a stored file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StoredMedia:
    """A stored upload, with everything an Attachment row or a profile needs."""

    kind: str  # image | video | gifv | audio
    media_type: str
    file_name: str
    url: str
    preview_file_name: str | None
    preview_url: str | None  # for images never None (the file itself when there is no separate preview)
    width: int | None
    height: int | None
    blurhash: str | None
    meta: dict[str, Any]
    size: int

    @property
    def file_names(self) -> list[str]:
        return [n for n in (self.file_name, self.preview_file_name) if n]


@dataclass(frozen=True)
class StoredPreview:
    """A custom thumbnail (the `thumbnail` field of the media API)."""

    file_name: str
    url: str
    width: int
    height: int
    blurhash: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class Detected:
    kind: str  # image | video | audio
    media_type: str
    extension: str


@dataclass
class Encoded:
    data: bytes
    media_type: str
    extension: str


@dataclass
class Processed:
    kind: str
    main: Encoded
    preview: Encoded | None = None
    width: int | None = None
    height: int | None = None
    blurhash: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def size_meta(width: int, height: int) -> dict[str, Any]:
    return {"width": width, "height": height, "size": f"{width}x{height}", "aspect": width / height}
