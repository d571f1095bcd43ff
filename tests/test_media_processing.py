"""fediverse.media without HTTP: what an upload becomes on disk (type, pixels, metadata, sizes)."""

from __future__ import annotations

import struct
import wave
import zlib
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import blurhash
import pytest
from PIL import Image, ImageCms
from sqlalchemy import select, update

from actors.accounts import create_account
from fediverse.db import utcnow
from fediverse.media import (
    LocalMediaStorage,
    MediaError,
    StoredMedia,
    create_attachment,
    delete_orphan_media,
    media_storage,
    parse_focus,
    store_upload,
)
from fediverse.models import Attachment, ScheduledStatus, Status, StatusEdit
from fediverse.runtime import Runtime

RED, BLUE = (220, 20, 20), (20, 20, 220)
GPS_NAME = b"Mairie de Saint-Secret"


def media_dir(runtime: Runtime) -> Path:
    return runtime.settings.data_dir / "media"


def stored_files(runtime: Runtime) -> list[Path]:
    return [p for p in media_dir(runtime).rglob("*") if p.is_file()]


def read_stored(runtime: Runtime, name: str) -> bytes:
    return (media_dir(runtime) / name).read_bytes()


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def two_halves(width: int, height: int) -> Image.Image:
    """Left half blue, right half red: shows where a rotation or a crop went."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (0, 0, width // 2, height))
    return image


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel[:3], colour, strict=True))


def phone_photo() -> bytes:
    """A JPEG as a phone writes it: EXIF orientation 6 (turn 90° clockwise), GPS, maker, ICC profile."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "SpyPhone"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0), 0x1B: GPS_NAME}
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(two_halves(300, 200), "JPEG", exif=exif.tobytes(), icc_profile=icc, quality=95)


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes whose header declares a huge canvas (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
            + chunk(b"IEND", b""))


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def mp4_video(width: int = 640, height: int = 360, seconds: int = 3) -> bytes:
    """A minimal ISO-BMFF file: ftyp, moov (mvhd, a video trak, udta with a GPS position), mdat."""
    mvhd = bytes(4) + bytes(8) + struct.pack(">II", 1000, seconds * 1000) + bytes(80)
    matrix = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    tkhd = bytes(4) + bytes(20) + bytes(8) + bytes(8) + matrix + struct.pack(">II", width << 16, height << 16)
    hdlr = bytes(4) + bytes(4) + b"vide" + bytes(12) + b"VideoHandler\0"
    trak = box(b"trak", box(b"tkhd", tkhd) + box(b"mdia", box(b"hdlr", hdlr)))
    udta = box(b"udta", box(b"\xa9xyz", b"\x00\x12\x15\xc7+48.8566+002.3522/" + GPS_NAME))
    moov = box(b"moov", box(b"mvhd", mvhd) + trak + udta)
    return box(b"ftyp", b"isom" + bytes(4) + b"isomiso2avc1mp41") + moov + box(b"mdat", b"\x00" * 2048)


def wav_audio() -> bytes:
    buffer = BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * 8000)
    return buffer.getvalue()


def mp3_audio() -> bytes:
    """An ID3v2 tag (title, here a secret) then MPEG-1 layer III frames (128 kbit/s, 44.1 kHz)."""
    frame_body = b"TIT2" + struct.pack(">I", 1 + len(GPS_NAME)) + b"\0\0" + b"\0" + GPS_NAME
    tag = b"ID3\x03\x00\x00" + bytes([0, 0, (len(frame_body) >> 7) & 0x7F, len(frame_body) & 0x7F]) + frame_body
    frame = b"\xff\xfb\x90\x00" + bytes(413)
    return tag + frame * 10


async def test_phone_photo_is_stored_upright_without_exif_gps_or_profile(runtime: Runtime) -> None:
    stored = await store_upload(runtime, phone_photo(), filename="IMG_0001.jpg", declared_type="image/jpeg",
                                purpose="attachment")
    data = read_stored(runtime, stored.file_name)
    assert stored.kind == "image" and stored.media_type == "image/jpeg"
    assert stored.file_name.endswith(".jpg")
    with Image.open(BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert image.size == (200, 300) == (stored.width, stored.height)  # turned as the camera meant
        assert len(image.getexif()) == 0
        assert "exif" not in image.info and "icc_profile" not in image.info
        rgb = image.convert("RGB")
        assert close_to(rgb.getpixel((100, 40)), BLUE)  # the left (blue) half is now on top
        assert close_to(rgb.getpixel((100, 260)), RED)
    assert b"Exif" not in data and GPS_NAME not in data and b"SpyPhone" not in data
    assert stored.meta["original"] == {"width": 200, "height": 300, "size": "200x300", "aspect": 200 / 300}


async def test_png_keeps_its_transparency(runtime: Runtime) -> None:
    image = Image.new("RGBA", (120, 80), (0, 128, 0, 0))
    image.paste((250, 250, 0, 255), (10, 10, 60, 40))
    stored = await store_upload(runtime, encode(image, "PNG"), filename="logo.png", declared_type="image/png",
                                purpose="attachment")
    assert stored.media_type == "image/png"
    with Image.open(BytesIO(read_stored(runtime, stored.file_name))) as out:
        assert out.mode == "RGBA"
        assert out.getpixel((100, 70))[3] == 0
        assert out.getpixel((20, 20)) == (250, 250, 0, 255)
    assert stored.preview_file_name is not None
    with Image.open(BytesIO(read_stored(runtime, stored.preview_file_name))) as preview:
        assert preview.format == "PNG" and preview.mode == "RGBA"


@pytest.mark.parametrize("width,height", [(100_000, 100_000), (9000, 9000), (30_000, 20)])
async def test_huge_declared_dimensions_are_refused_before_decoding(runtime: Runtime, width: int,
                                                                    height: int) -> None:
    with pytest.raises(MediaError, match="Image too large"):
        await store_upload(runtime, png_claiming(width, height), filename="bomb.png", declared_type="image/png",
                           purpose="attachment")
    assert stored_files(runtime) == []


async def test_text_file_named_like_a_photo_is_refused(runtime: Runtime) -> None:
    with pytest.raises(MediaError) as error:
        await store_upload(runtime, b"Bonjour, ceci n'est pas une image.\n" * 20, filename="photo.jpg",
                           declared_type="image/jpeg", purpose="attachment")
    assert "not supported" in str(error.value) and "image/jpeg" in str(error.value)
    assert stored_files(runtime) == []


async def test_truncated_jpeg_is_refused(runtime: Runtime) -> None:
    data = encode(two_halves(400, 300), "JPEG")
    with pytest.raises(MediaError, match="could not be decoded"):
        await store_upload(runtime, data[:len(data) // 2], filename="x.jpg", declared_type="image/jpeg",
                           purpose="attachment")


async def test_image_renamed_mp4_is_detected_as_an_image(runtime: Runtime) -> None:
    stored = await store_upload(runtime, encode(two_halves(50, 40), "PNG"), filename="clip.mp4",
                                declared_type="video/mp4", purpose="attachment")
    assert stored.kind == "image" and stored.media_type == "image/png" and stored.file_name.endswith(".png")


async def test_heic_is_refused_with_a_clear_message(runtime: Runtime) -> None:
    heic = box(b"ftyp", b"heic" + bytes(4) + b"mif1heic") + box(b"meta", bytes(64))
    with pytest.raises(MediaError, match="HEIC"):
        await store_upload(runtime, heic, filename="IMG_0002.HEIC", declared_type="image/heic",
                           purpose="attachment")


async def test_blurhash_is_present_and_decodes(runtime: Runtime) -> None:
    stored = await store_upload(runtime, encode(two_halves(400, 300), "JPEG"), filename=None, declared_type=None,
                                purpose="attachment")
    assert stored.blurhash is not None
    assert len(stored.blurhash) == 6 + 2 * (4 * 4 - 1)  # Mastodon's 4x4 components
    assert blurhash.is_valid_blurhash(stored.blurhash)
    decoded = blurhash.decode(stored.blurhash, 32, 24)
    assert len(decoded.tobytes()) == 32 * 24 * 3
    assert close_to(decoded.getpixel((2, 12)), BLUE) and close_to(decoded.getpixel((29, 12)), RED)


async def test_large_image_is_resized_and_gets_a_640_preview(runtime: Runtime) -> None:
    stored = await store_upload(runtime, encode(two_halves(3000, 1000), "JPEG"), filename="pano.jpg",
                                declared_type="image/jpeg", purpose="attachment")
    assert (stored.width, stored.height) == (1920, 640)
    assert stored.preview_file_name and stored.preview_url and stored.preview_url != stored.url
    with Image.open(BytesIO(read_stored(runtime, stored.preview_file_name))) as preview:
        assert preview.size == (640, 213)
    assert stored.meta["small"]["size"] == "640x213"
    assert stored.meta["original"]["size"] == "1920x640"


async def test_avatar_is_a_centred_square_and_header_is_three_to_one(runtime: Runtime) -> None:
    source = Image.new("RGB", (1000, 800), RED)
    source.paste(BLUE, (300, 200, 700, 600))  # a blue square in the middle
    avatar = await store_upload(runtime, encode(source, "PNG"), filename="me.png", declared_type="image/png",
                                purpose="avatar")
    assert (avatar.width, avatar.height) == (400, 400)
    assert avatar.file_name.startswith("avatars/")
    assert avatar.preview_file_name is None and avatar.preview_url == avatar.url  # avatar_static
    with Image.open(BytesIO(read_stored(runtime, avatar.file_name))) as out:
        assert out.size == (400, 400)
        assert close_to(out.getpixel((200, 200)), BLUE) and close_to(out.getpixel((5, 200)), RED)
    small = await store_upload(runtime, encode(Image.new("RGB", (120, 90), RED), "PNG"), filename=None,
                               declared_type=None, purpose="avatar")
    assert (small.width, small.height) == (90, 90)  # cropped square, never upscaled
    header = await store_upload(runtime, encode(Image.new("RGB", (3000, 3000), RED), "JPEG"), filename=None,
                                declared_type=None, purpose="header")
    assert (header.width, header.height) == (1500, 500)


async def test_animated_gif_stays_animated_without_its_comment(runtime: Runtime) -> None:
    frames = [Image.new("RGB", (200, 100), (i * 25, 0, 255 - i * 25)) for i in range(8)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0,
                  comment=GPS_NAME)
    stored = await store_upload(runtime, data, filename="anim.gif", declared_type="image/gif", purpose="attachment")
    assert stored.kind == "image" and stored.media_type == "image/gif"
    out_bytes = read_stored(runtime, stored.file_name)
    assert GPS_NAME not in out_bytes
    with Image.open(BytesIO(out_bytes)) as out:
        assert out.n_frames == 8
    assert stored.preview_file_name and stored.preview_file_name.endswith(".jpg")  # a still preview
    avatar = await store_upload(runtime, data, filename=None, declared_type=None, purpose="avatar")
    assert avatar.media_type == "image/gif" and avatar.preview_file_name  # animated avatar + static version


async def test_video_is_stored_as_is_but_without_its_gps_box(runtime: Runtime) -> None:
    data = mp4_video()
    stored = await store_upload(runtime, data, filename="video.mp4", declared_type="video/mp4",
                                purpose="attachment")
    assert stored.kind == "video" and stored.media_type == "video/mp4" and stored.file_name.endswith(".mp4")
    out = read_stored(runtime, stored.file_name)
    assert len(out) == len(data) and GPS_NAME not in out and b"free" in out
    assert out.endswith(b"\x00" * 2048)  # the media data itself is untouched
    assert (stored.width, stored.height) == (640, 360)
    assert stored.meta["original"]["duration"] == 3.0
    assert stored.preview_url is None and stored.blurhash is None


async def test_video_with_a_custom_thumbnail_gets_preview_and_blurhash(runtime: Runtime) -> None:
    stored = await store_upload(runtime, mp4_video(), filename="video.mp4", declared_type="video/mp4",
                                purpose="attachment", thumbnail=encode(two_halves(1280, 720), "JPEG"))
    assert stored.preview_file_name and stored.preview_url
    assert stored.meta["small"]["size"] == "640x360"
    assert stored.blurhash and blurhash.is_valid_blurhash(stored.blurhash)


async def test_audio_files_are_recognised_and_mp3_tags_removed(runtime: Runtime) -> None:
    wav = await store_upload(runtime, wav_audio(), filename="son.bin", declared_type="application/octet-stream",
                             purpose="attachment")
    assert (wav.kind, wav.media_type) == ("audio", "audio/wav")
    mp3 = await store_upload(runtime, mp3_audio(), filename="chanson.mp3", declared_type="audio/mpeg",
                             purpose="attachment")
    assert (mp3.kind, mp3.media_type) == ("audio", "audio/mpeg")
    out = read_stored(runtime, mp3.file_name)
    assert out.startswith(b"\xff\xfb") and GPS_NAME not in out


async def test_profiles_must_be_images(runtime: Runtime) -> None:
    with pytest.raises(MediaError, match="avatar must be an image"):
        await store_upload(runtime, wav_audio(), filename=None, declared_type=None, purpose="avatar")


async def test_images_over_16_mb_are_refused(runtime: Runtime) -> None:
    data = encode(two_halves(40, 30), "JPEG") + bytes(17 * 1024 * 1024)  # junk after the end of the picture
    with pytest.raises(MediaError, match="File too large: 17.0 MB"):
        await store_upload(runtime, data, filename=None, declared_type=None, purpose="attachment")
    assert stored_files(runtime) == []


def test_focus_must_be_two_numbers_between_minus_one_and_one() -> None:
    assert parse_focus("0.5,-0.25") == (0.5, -0.25)
    assert parse_focus(None) is None and parse_focus("") is None
    for bad in ("2,0", "nan,0", "a,b", "0.1", "0,0,0"):
        with pytest.raises(MediaError):
            parse_focus(bad)


def test_local_storage_urls_and_names(runtime: Runtime) -> None:
    storage = media_storage(runtime.settings)
    assert isinstance(storage, LocalMediaStorage)
    url = storage.url("avatars/ab/cd/x.png")
    assert url == "https://commune-a.test/media/avatars/ab/cd/x.png"
    assert storage.name_for_url(url) == "avatars/ab/cd/x.png"
    assert storage.name_for_url("https://elsewhere.test/media/x.png") is None
    for bad in ("../secret_key", "/etc/passwd", "a/../../b"):
        with pytest.raises(ValueError):
            storage.path(bad)


async def test_names_are_random_and_files_are_written_completely(runtime: Runtime) -> None:
    data = encode(two_halves(60, 40), "PNG")
    first: StoredMedia = await store_upload(runtime, data, filename="a.png", declared_type=None, purpose="attachment")
    second = await store_upload(runtime, data, filename="a.png", declared_type=None, purpose="attachment")
    assert first.file_name != second.file_name
    stem = Path(first.file_name).stem
    assert len(stem) == 32 and int(stem, 16) >= 0
    assert not [p for p in stored_files(runtime) if p.name.endswith(".tmp")]


async def test_orphan_uploads_are_deleted_after_a_day_unless_scheduled_or_in_history(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        actor, _ = await create_account(session, runtime.uris, "marie", email="marie@commune-a.test",
                                        password="correct horse battery")
    data = encode(two_halves(60, 40), "PNG")
    old = await create_attachment(runtime, actor.id, data)
    scheduled = await create_attachment(runtime, actor.id, data)
    edited_out = await create_attachment(runtime, actor.id, data)
    fresh = await create_attachment(runtime, actor.id, data)
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Attachment).where(Attachment.id.in_([old.id, scheduled.id, edited_out.id]))
                              .values(created_at=utcnow() - timedelta(hours=25)))
        session.add(ScheduledStatus(actor_id=actor.id, scheduled_at=utcnow() + timedelta(days=1),
                                    params_json="{}", media_ids_json=f'["{scheduled.id}"]'))
        status = Status(uri=f"{actor.uri}/statuses/1", actor_id=actor.id, local=True, content="<p>v2</p>")
        session.add(status)
        await session.flush()
        session.add(StatusEdit(status_id=status.id, content="<p>v1</p>", media_ids_json=f'["{edited_out.id}"]'))
    assert await delete_orphan_media(runtime) == 1
    async with runtime.sessions() as session:
        left = set(await session.scalars(select(Attachment.id)))
    assert left == {scheduled.id, edited_out.id, fresh.id}
    assert old.file_name and not (media_dir(runtime) / old.file_name).exists()
    assert old.preview_file_name and not (media_dir(runtime) / old.preview_file_name).exists()
    assert scheduled.file_name and (media_dir(runtime) / scheduled.file_name).exists()
    assert await delete_orphan_media(runtime) == 0
