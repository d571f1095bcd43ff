"""What uploaded bytes are, whatever the upload claimed: Pillow's identification for images, a
small signature table for audio and video."""

from __future__ import annotations

from PIL import Image

from fediverse.media.containers import iso_brands, iso_info, mp3_frame_start
from fediverse.media.errors import MediaError
from fediverse.media.images import open_image
from fediverse.media.results import Detected

HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
AVIF_BRANDS = {b"avif", b"avis"}
SUPPORTED_TEXT = ("JPEG, PNG, WebP, GIF or AVIF images, MP4, MOV or WebM videos, "
                  "and MP3, OGG, WAV, FLAC, AAC or M4A audio")


def detect(data: bytes) -> Detected:
    """What the bytes are, whatever the upload claimed; MediaError for anything we do not accept."""
    if not data:
        raise MediaError("The file is empty")
    if data[4:8] == b"ftyp":
        major, brands = iso_brands(data)
        if major in HEIF_BRANDS or (major in (b"mif1", b"msf1") and brands & HEIF_BRANDS and not brands & AVIF_BRANDS):
            raise MediaError("HEIC/HEIF images are not supported by this server: "
                             "export the photo as JPEG (most phones have a “most compatible” setting)")
    image_format = pillow_format(data)
    if image_format is not None:
        return Detected("image", Image.MIME.get(image_format, "image/jpeg"), image_format.lower())
    if data[4:8] == b"ftyp":
        return _detect_iso(data)
    head = data[:4096]
    if data[:4] == b"\x1a\x45\xdf\xa3":
        if b"webm" in head[:64]:
            return Detected("video", "video/webm", "webm")
        raise MediaError("Matroska (MKV) files are not supported: export the video as MP4 or WebM")
    if data[:4] == b"OggS":
        if b"\x80theora" in head:
            return Detected("video", "video/ogg", "ogv")
        if b"OpusHead" in head or b"\x01vorbis" in head or b"\x7fFLAC" in head:
            return Detected("audio", "audio/ogg", "ogg")
        raise MediaError("This OGG file contains no audio stream we know (Vorbis, Opus or FLAC)")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return Detected("audio", "audio/wav", "wav")
    if data[:4] == b"fLaC":
        return Detected("audio", "audio/flac", "flac")
    if mp3_frame_start(data) is not None:
        return Detected("audio", "audio/mpeg", "mp3")
    if len(data) > 7 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0 and (data[2] >> 2) & 0x0F < 13:
        return Detected("audio", "audio/aac", "aac")  # raw AAC (ADTS), as voice recorders write it
    raise MediaError(f"File type not supported or not recognised: upload {SUPPORTED_TEXT}")


def pillow_format(data: bytes) -> str | None:
    """Pillow's own identification (header only, nothing decoded); None when it is no image of ours."""
    try:
        with open_image(data) as im:
            return "JPEG" if im.format == "MPO" else im.format
    except MediaError:
        raise
    except Exception:  # untrusted bytes: whatever a parser raises means "not an image we can read"
        return None


def _detect_iso(data: bytes) -> Detected:
    major, brands = iso_brands(data)
    if brands & AVIF_BRANDS:
        raise MediaError("This AVIF image could not be read")
    info = iso_info(data)
    if info.has_video:
        if major == b"qt  ":
            return Detected("video", "video/quicktime", "mov")
        return Detected("video", "video/mp4", "mp4")
    if info.has_audio:
        return Detected("audio", "audio/mp4", "m4a")
    raise MediaError("This MP4/MOV file has no readable audio or video track (is it complete?)")
