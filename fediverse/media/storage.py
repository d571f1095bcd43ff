"""Where media files live: `MediaStorage` (local directory now, S3 later without touching callers)."""

from __future__ import annotations

import asyncio
import mimetypes
import os
import secrets
from abc import ABC, abstractmethod
from pathlib import Path

from fediverse.config import Settings

# The /media mount guesses Content-Type from the extension; some systems lack /etc/mime.types.
EXTENSION_TYPES = {
    ".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif",
    ".mp4": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm", ".ogv": "video/ogg",
    ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".wav": "audio/wav", ".flac": "audio/flac", ".m4a": "audio/mp4",
    ".aac": "audio/aac",
}
for _extension, _type in EXTENSION_TYPES.items():
    mimetypes.add_type(_type, _extension)


class MediaStorage(ABC):
    """Where media files live. Names are relative paths like `attachments/ab/cd/<hex>.jpg`."""

    @abstractmethod
    async def save(self, name: str, data: bytes, content_type: str) -> None:
        """Store `data` under `name`, atomically: readers never see half a file."""

    @abstractmethod
    async def delete(self, name: str) -> None:
        """Remove `name`; a missing file is not an error (clean-ups may run twice)."""

    @abstractmethod
    def url(self, name: str) -> str:
        """The public URL clients and other servers fetch the file from."""

    def name_for_url(self, url: str | None) -> str | None:
        """The stored name behind one of our URLs (to delete a replaced avatar), None for others."""
        prefix = self.url("")
        if url and url.startswith(prefix) and len(url) > len(prefix):
            return url[len(prefix):]
        return None


class LocalMediaStorage(MediaStorage):
    """Files under `<data_dir>/media`, served by the app's /media mount (or a reverse proxy)."""

    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")

    def path(self, name: str) -> Path:
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or any(p in ("..", ".", "") for p in parts):
            raise ValueError(f"invalid media name {name!r}")
        return self.root.joinpath(*parts)

    async def save(self, name: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path(name), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(self.path(name).unlink, missing_ok=True)

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


def media_base_url(settings: Settings) -> str:
    return (settings.media_url or f"{settings.base_url}/media").rstrip("/")


def media_storage(settings: Settings) -> MediaStorage:
    """The storage configured for this instance (only the local directory for now)."""
    return LocalMediaStorage(settings.data_dir / "media", media_base_url(settings))
