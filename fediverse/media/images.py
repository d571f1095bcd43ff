"""Images decoded and re-encoded: upright, in sRGB, cropped and scaled for their purpose, with no
metadata left (EXIF, XMP, ICC, comments); animations frame by frame; decompression bombs refused
before any pixel is decoded."""

from __future__ import annotations

from io import BytesIO
from typing import Any, Literal

from PIL import Image, ImageCms, ImageOps, ImageSequence

from fediverse.media.blurhash import blurhash_of
from fediverse.media.errors import MediaError
from fediverse.media.results import Encoded, Processed, size_meta

Purpose = Literal["attachment", "avatar", "header"]
PURPOSES: tuple[Purpose, ...] = ("attachment", "avatar", "header")

# Decompression bombs: a tiny file can declare a huge canvas. Checked on the header, before decoding.
MAX_PIXELS = 8192 * 8192
MAX_SIDE = 16384
# Animations are decoded frame by frame and kept as RGBA at their output size: bound both.
MAX_FRAMES = 1000
MAX_ANIMATION_PIXELS = 64 * 1000 * 1000

ATTACHMENT_MAX_SIDE = 1920
PREVIEW_MAX_SIDE = 640
AVATAR_SIDE = 400
HEADER_SIZE = (1500, 500)


Image.init()
# The only decoders Pillow may use on uploads (AVIF when this Pillow build has it; output is JPEG/PNG).
IMAGE_FORMATS = [f for f in ("JPEG", "PNG", "WEBP", "GIF", "AVIF") if f in Image.OPEN]


def open_image(data: bytes) -> Image.Image:
    try:
        return Image.open(BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as exc:
        raise MediaError(f"Image too large: more than {MAX_PIXELS:,} pixels") from exc


def check_canvas(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise MediaError("The image has no pixels")
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise MediaError(f"Image too large: {width}x{height} pixels (at most {MAX_PIXELS:,} pixels, "
                         f"{MAX_SIDE} on a side)")


Box = tuple[int, int, int, int]


def _geometry(width: int, height: int, purpose: Purpose | Literal["thumbnail"]) -> tuple[Box, tuple[int, int]]:
    """The source area to keep and the output size: fit for attachments, centred crops for
    profiles. Never upscales (it would only add bytes)."""
    if purpose in ("attachment", "thumbnail"):
        limit = ATTACHMENT_MAX_SIDE if purpose == "attachment" else PREVIEW_MAX_SIDE
        scale = min(1.0, limit / max(width, height))
        return (0, 0, width, height), (max(1, round(width * scale)), max(1, round(height * scale)))
    if purpose == "avatar":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        out = min(side, AVATAR_SIDE)
        return (left, top, left + side, top + side), (out, out)
    ratio = HEADER_SIZE[0] / HEADER_SIZE[1]
    if width >= height * ratio:
        crop_w, crop_h = min(width, round(height * ratio)), height
    else:
        crop_w, crop_h = width, max(1, round(width / ratio))
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    out_w = min(crop_w, HEADER_SIZE[0])
    out_h = max(1, round(out_w * crop_h / crop_w))
    return (left, top, left + crop_w, top + crop_h), (out_w, out_h)


def _apply_geometry(image: Image.Image, box: Box, size: tuple[int, int]) -> Image.Image:
    if box == (0, 0, *image.size) and size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert from an embedded colour profile (Display P3 on phones) before the profile is dropped."""
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        source = ImageCms.ImageCmsProfile(BytesIO(icc))
        output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=output_mode)
        return converted if converted is not None else image
    except Exception:  # a broken or exotic profile: keep the pixels as they are
        return image


def _normalize_mode(image: Image.Image) -> Image.Image:
    """L, LA, RGB or RGBA: the modes every encoder and the resampler handle well."""
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        result = image
    elif image.mode in ("P", "PA"):
        result = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    elif image.mode == "1":
        result = image.convert("L")
    else:
        result = image.convert("RGB")
    if result.mode in ("RGBA", "LA") and result.getchannel("A").getextrema()[0] == 255:
        result = result.convert(result.mode[:-1])  # an alpha channel that hides nothing
    return result


def encode(image: Image.Image, image_format: str, *, quality: int = 90) -> Encoded:
    image.info = {}  # nothing from the source (EXIF, XMP, ICC, comments) can reach the encoder
    buffer = BytesIO()
    if image_format == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
        return Encoded(buffer.getvalue(), "image/jpeg", "jpg")
    if image_format == "WEBP":
        image.save(buffer, "WEBP", quality=quality, method=4)
        return Encoded(buffer.getvalue(), "image/webp", "webp")
    image.save(buffer, "PNG")
    return Encoded(buffer.getvalue(), "image/png", "png")


def _still_format(source_format: str, image: Image.Image) -> str:
    """Keep the uploader's format where clients display it; still GIF and AVIF become PNG/JPEG."""
    if source_format in ("JPEG", "WEBP", "PNG"):
        return source_format
    return "PNG" if image.mode in ("RGBA", "LA") else "JPEG"


def _preview_of(image: Image.Image) -> Encoded:
    preview = image.copy()
    preview.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return encode(preview, "PNG" if preview.mode in ("RGBA", "LA") else "JPEG", quality=80)


def decode_still(im: Image.Image, purpose: Purpose | Literal["thumbnail"]) -> Image.Image:
    """The first frame, upright, in sRGB, cropped and scaled for its purpose, without metadata."""
    if im.format in ("JPEG", "MPO"):
        side = max(_geometry(*im.size, purpose)[1])
        im.draft(None, (side, side))  # let libjpeg decode at 1/2..1/8 scale when that is enough
    try:
        im.load()
    except Exception as exc:
        raise MediaError("The image could not be decoded (truncated or corrupt file)") from exc
    icc = im.info.get("icc_profile")
    try:
        upright = ImageOps.exif_transpose(im)
    except Exception:  # malformed EXIF: the orientation is unknown, keep the pixels as stored
        upright = im.copy()
    image = _normalize_mode(_to_srgb(upright, icc))
    box, size = _geometry(*image.size, purpose)
    image = _apply_geometry(image, box, size)
    image.info = {}
    return image


def _render_animation(im: Image.Image, image_format: str, purpose: Purpose) -> tuple[Encoded, Image.Image]:
    """Every frame cropped/scaled and re-encoded (GIF stays GIF, WebP stays WebP)."""
    box, size = _geometry(*im.size, purpose)
    count = getattr(im, "n_frames", 1)
    if count > MAX_FRAMES or count * size[0] * size[1] > MAX_ANIMATION_PIXELS:
        raise MediaError(f"Animation too long or too large ({count} frames of {size[0]}x{size[1]}): "
                         "upload it as an MP4 video instead")
    frames: list[Image.Image] = []
    durations: list[int] = []
    loop = im.info.get("loop", 0)
    try:
        for frame in ImageSequence.Iterator(im):
            durations.append(int(frame.info.get("duration", 100) or 0))
            rgba = _apply_geometry(frame.convert("RGBA"), box, size)
            rgba.info = {}
            frames.append(rgba)
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError("The animation could not be decoded (truncated or corrupt file)") from exc
    buffer = BytesIO()
    options: dict[str, Any] = {"disposal": 2} if image_format == "GIF" else {"quality": 90, "method": 4}
    frames[0].save(buffer, image_format, save_all=True, append_images=frames[1:], duration=durations, loop=loop,
                   **options)
    media_type = "image/gif" if image_format == "GIF" else "image/webp"
    return Encoded(buffer.getvalue(), media_type, image_format.lower()), frames[0]


def process_image(data: bytes, purpose: Purpose) -> Processed:
    with open_image(data) as im:
        source_format = "JPEG" if im.format == "MPO" else str(im.format)
        check_canvas(*im.size)
        animated = source_format in ("GIF", "WEBP") and bool(getattr(im, "is_animated", False))
        if animated:
            main, first_frame = _render_animation(im, source_format, purpose)
            still = _normalize_mode(first_frame)
        else:
            still = decode_still(im, purpose)
            main = encode(still, _still_format(source_format, still))
    width, height = still.size
    meta: dict[str, Any] = {"original": size_meta(width, height)}
    # Attachments always get a small version; profiles only a static one when animated
    # (Mastodon's avatar_static / header_static).
    preview = _preview_of(still) if purpose == "attachment" or animated else None
    if preview is not None:
        with Image.open(BytesIO(preview.data)) as small:
            meta["small"] = size_meta(*small.size)
    return Processed("image", main, preview, width, height, blurhash_of(still), meta)
