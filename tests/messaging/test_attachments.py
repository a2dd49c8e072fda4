"""Attachments: what is accepted (by content), how it is cleaned, where it is kept, and how it is served."""

import hashlib
import io
import stat
from pathlib import Path

import pikepdf
import pillow_heif
import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from PIL import Image

from careportal.messaging.attachment_fields import MultipleFileField
from careportal.messaging.attachments import (
    AttachmentRejected,
    AttachmentUnavailable,
    CleanFile,
    attachment_file_open,
    attachment_path,
    attachment_response,
    attachments_clean,
    attachments_store,
    attachments_sweep_incoming,
)
from careportal.messaging.models import Attachment, ScanStatus
from tests.messaging import files
from tests.messaging.factories import MessageFactory
from tests.messaging.files import upload


def clean_one(name: str, data: bytes) -> CleanFile:
    [clean] = attachments_clean([upload(name, data)])
    return clean


def rejected(name: str, data: bytes) -> str:
    with pytest.raises(AttachmentRejected) as error:
        attachments_clean([upload(name, data)])
    return str(error.value)


def stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def placed_files(root: Path) -> list[Path]:
    """Stored files that can be served: everything but the copies staged in incoming/ until their commit."""
    return [path for path in stored_files(root) if path.parent.name != "incoming"]


# --- recognised by content ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [files.elf_executable, files.windows_executable])
def test_an_executable_renamed_pdf_is_rejected_naming_the_file(build):
    assert rejected("scan.exe.pdf", build()) == "‘scan.exe.pdf’ is not a PDF, JPEG, PNG or HEIC file"


@pytest.mark.parametrize(
    ("name", "data"),
    [("photo.png", files.gif()), ("photo.png", files.SVG), ("photo.png", files.HTML), ("notes.pdf", b"just text")],
)
def test_other_types_claiming_to_be_images_or_pdfs_are_rejected(name, data):
    # The browser says image/png; only the content counts.
    with pytest.raises(AttachmentRejected, match="is not a PDF, JPEG, PNG or HEIC file"):
        attachments_clean([upload(name, data, content_type="image/png")])


def test_the_accepted_types_follow_the_setting(settings):
    settings.MESSAGE_ATTACHMENT_TYPES = ["application/pdf"]
    assert rejected("photo.jpg", files.jpeg()) == "‘photo.jpg’ is not a PDF file"
    assert clean_one("letter.pdf", files.pdf()).content_type == "application/pdf"


def test_a_configured_type_without_a_cleaner_is_not_accepted(settings):
    settings.MESSAGE_ATTACHMENT_TYPES = ["image/png", "image/gif"]
    assert rejected("a.gif", files.gif()) == "‘a.gif’ is not a PNG file"


def test_a_file_of_a_good_type_with_the_wrong_extension_gets_the_right_one():
    clean = clean_one("letter.png", files.pdf())
    assert (clean.display_name, clean.content_type) == ("letter.pdf", "application/pdf")


# --- size and count ----------------------------------------------------------------------------------------------


def test_an_empty_file_is_rejected():
    assert rejected("blank.pdf", b"") == "‘blank.pdf’ is empty"


def test_a_file_over_the_size_limit_is_rejected(settings):
    settings.MESSAGE_ATTACHMENT_MAX_BYTES = 1024
    data = files.png(200, 200)
    assert len(data) > 1024
    assert rejected("big.png", data) == "‘big.png’ must be smaller than 1 KB"


def test_the_size_is_checked_before_the_file_is_read(settings):
    class Unreadable(SimpleUploadedFile):
        def read(self, *args, **kwargs):
            raise AssertionError("read a file that was already too large")

    settings.MESSAGE_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
    big = Unreadable("scan.pdf", b"%PDF-1.7")
    big.size = 10 * 1024 * 1024 + 1
    with pytest.raises(AttachmentRejected, match=r"‘scan\.pdf’ must be smaller than 10 MB"):
        attachments_clean([big])


def test_a_file_larger_than_its_declared_size_is_still_rejected(settings):
    settings.MESSAGE_ATTACHMENT_MAX_BYTES = 1024
    lying = upload("big.pdf", files.pdf() + b" " * 2048)
    lying.size = 10
    with pytest.raises(AttachmentRejected, match="must be smaller than 1 KB"):
        attachments_clean([lying])


def test_too_many_files_are_rejected(settings):
    settings.MESSAGE_ATTACHMENT_MAX_COUNT = 2
    uploads = [upload(f"{n}.pdf", files.pdf()) for n in range(3)]
    with pytest.raises(AttachmentRejected) as error:
        attachments_clean(uploads)
    assert str(error.value) == "You can attach up to 2 files to a message; you chose 3"
    assert len(attachments_clean(uploads[:2])) == 2


def test_no_files_is_fine():
    assert attachments_clean([]) == []


# --- images --------------------------------------------------------------------------------------------------------


def test_exif_including_gps_is_removed_from_a_jpeg():
    original = files.jpeg(gps=True)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825), "the test photo must carry a location"
    clean = clean_one("photo.jpg", original)
    image = Image.open(io.BytesIO(clean.data))
    assert clean.content_type == "image/jpeg"
    assert "exif" not in image.info
    assert not image.getexif()
    assert b"PhoneMaker" not in clean.data and b"taken at home" not in clean.data


def test_the_orientation_is_applied_before_exif_is_removed():
    # Orientation 6: the camera was turned, so the stored 64 by 48 pixels are shown 48 by 64.
    clean = clean_one("photo.jpg", files.jpeg(64, 48, orientation=6))
    image = Image.open(io.BytesIO(clean.data))
    assert image.size == (48, 64)
    assert not image.getexif()


def test_png_text_chunks_are_removed():
    original = files.png(text={"Comment": "Patient at 1 High Street"})
    assert Image.open(io.BytesIO(original)).text
    clean = clean_one("screenshot.png", original)
    image = Image.open(io.BytesIO(clean.data))
    assert (clean.content_type, image.format) == ("image/png", "PNG")
    assert image.text == {}
    assert b"High Street" not in clean.data


def test_png_transparency_is_kept():
    clean = clean_one("icon.png", files.png(mode="RGBA"))
    assert Image.open(io.BytesIO(clean.data)).mode == "RGBA"


def test_heic_is_converted_to_jpeg_without_its_metadata():
    original = files.heic(gps=True)
    assert pillow_heif.open_heif(io.BytesIO(original)).info.get("exif"), "the test photo must carry EXIF"
    clean = clean_one("IMG_0001.HEIC", original)
    image = Image.open(io.BytesIO(clean.data))
    assert (clean.content_type, clean.display_name, image.format) == ("image/jpeg", "IMG_0001.jpg", "JPEG")
    assert image.size == (64, 48)
    assert not image.getexif()


def test_a_payload_appended_to_a_jpeg_is_dropped_by_re_encoding():
    polyglot = files.jpeg_polyglot()
    assert files.HTML_PAYLOAD in polyglot and b"PK\x03\x04" in polyglot
    clean = clean_one("photo.jpg", polyglot)
    assert files.HTML_PAYLOAD not in clean.data
    assert b"PK\x03\x04" not in clean.data and b"index.html" not in clean.data
    assert clean.data.endswith(b"\xff\xd9")
    Image.open(io.BytesIO(clean.data)).load()


def test_a_decompression_bomb_is_rejected_before_decoding(monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a decompression bomb")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    data = files.png_bomb(20000, 20000)
    assert len(data) < 100_000
    message = rejected("rash.png", data)
    assert message.startswith("‘rash.png’ is too large an image")
    assert message.endswith("Send an image of up to 40 million pixels")


def test_an_image_over_the_pixel_setting_is_rejected_with_its_size(settings):
    settings.MESSAGE_IMAGE_MAX_PIXELS = 1_000_000
    assert rejected("wound.png", files.png_bomb(2000, 1000)) == (
        "‘wound.png’ is too large an image (2,000 × 1,000 pixels). Send an image of up to 1 million pixels"
    )


def test_a_truncated_jpeg_is_rejected():
    assert (
        rejected("photo.jpg", files.truncated_jpeg()) == "‘photo.jpg’ cannot be opened as an image. It may be damaged"
    )


def test_a_corrupt_png_is_rejected():
    data = bytearray(files.png(64, 64))
    data[60:80] = bytes(20)  # inside IDAT: the checksum no longer matches
    assert "cannot be opened as an image" in rejected("photo.png", bytes(data))


# --- PDFs ----------------------------------------------------------------------------------------------------------


def test_a_plain_pdf_is_kept_byte_for_byte():
    original = files.pdf()
    assert clean_one("letter.pdf", original).data == original


def test_a_pdf_is_re_saved_without_scripts_actions_and_embedded_files():
    original = files.pdf_with_active_content()
    assert files.JS_PAYLOAD.encode() in original
    clean = clean_one("letter.pdf", original)
    assert files.JS_PAYLOAD.encode() not in clean.data
    assert b"pretend program" not in clean.data
    with pikepdf.open(io.BytesIO(clean.data)) as pdf:
        assert "/OpenAction" not in pdf.Root and "/AA" not in pdf.Root
        names = pdf.Root.get("/Names", pikepdf.Dictionary())
        assert "/JavaScript" not in names and "/EmbeddedFiles" not in names
        page = pdf.pages[0].obj
        assert "/AA" not in page
        annotations = list(page.Annots)
        # The launch link loses its action; the web link keeps it; the file attachment annotation is gone.
        assert [str(a.Subtype) for a in annotations] == ["/Link", "/Link"]
        assert "/A" not in annotations[0]
        assert str(annotations[1].A.URI) == "https://www.nhs.uk/"
        assert len(pdf.pages) == 1


def test_a_pdf_that_only_opens_at_a_page_is_kept_as_given():
    document = pikepdf.open(io.BytesIO(files.pdf()))
    document.Root.OpenAction = pikepdf.Array([document.pages[0].obj, pikepdf.Name.Fit])
    output = io.BytesIO()
    document.save(output)
    assert clean_one("letter.pdf", output.getvalue()).data == output.getvalue()


def test_a_javascript_link_is_removed():
    document = pikepdf.open(io.BytesIO(files.pdf()))
    link = pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String("javascript:alert(1)"))
    document.pages[0].obj.Annots = pikepdf.Array(
        [pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[0, 0, 1, 1], A=link)]
    )
    output = io.BytesIO()
    document.save(output)
    with pikepdf.open(io.BytesIO(clean_one("letter.pdf", output.getvalue()).data)) as pdf:
        assert "/A" not in pdf.pages[0].obj.Annots[0]


def test_a_payload_appended_to_a_pdf_is_dropped_by_re_saving():
    polyglot = files.pdf_polyglot()
    clean = clean_one("letter.pdf", polyglot)
    assert b"PK\x03\x04" not in clean.data and b"index.html" not in clean.data
    with pikepdf.open(io.BytesIO(clean.data)) as pdf:
        assert len(pdf.pages) == 1


def test_a_password_protected_pdf_is_rejected():
    document = pikepdf.open(io.BytesIO(files.pdf()))
    output = io.BytesIO()
    document.save(output, encryption=pikepdf.Encryption(owner="owner", user="secret"))
    assert rejected("letter.pdf", output.getvalue()) == (
        "‘letter.pdf’ is protected by a password. Remove the password and try again"
    )


def test_a_damaged_pdf_is_rejected():
    assert rejected("letter.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 4) == (
        "‘letter.pdf’ cannot be opened as a PDF. It may be damaged"
    )


# --- names ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("C:\\Users\\me\\Documents\\letter.pdf", "letter.pdf"),
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("report", "report.pdf"),
        ("scan.exe.PDF", "scan.exe.pdf"),
        ("letter\u202efdp.exe", "letterfdp.pdf"),  # a right-to-left override would show this as "letterexe.pdf"
        ('bad"name\r\n.pdf', "bad_name.pdf"),
        ("  .hidden.pdf  ", "hidden.pdf"),
        (".pdf", "pdf.pdf"),
        ("...", "attachment.pdf"),
        ("\u200b\u200b", "attachment.pdf"),
        ("Résumé – café 🩺.pdf", "Résumé – café 🩺.pdf"),
    ],
)
def test_display_names_are_cleaned(given, expected):
    assert clean_one(given, files.pdf()).display_name == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # The right-to-left override reverses what follows it: "gnp\u202eexe.png" reads as "gnpgnp.exe".
        ("gnp\u202eexe.png", "gnpexe.png"),
        ("../../../etc/passwd.png", "passwd.png"),
        ("..\\..\\windows\\win.ini.png", "win.ini.png"),
        ("C:\\Users\\x\\photo.png", "photo.png"),
        # Every bidirectional control: embeddings, overrides, isolates and the marks.
        (
            "a\u202ab\u202bc\u202cd\u202de\u202ef\u2066g\u2067h\u2068i\u2069j\u200ek\u200fl\u061cm.png",
            "abcdefghijklm.png",
        ),
        ("scan\x00\x01\x1f\x7f.png", "scan.png"),
        ("..\u202e.png", "png.png"),
        ("/\u202e\u2066", "attachment.png"),
        ("صورة الأشعة.png", "صورة الأشعة.png"),
    ],
)
def test_image_names_lose_paths_and_bidirectional_controls(given, expected):
    assert clean_one(given, files.png()).display_name == expected


def test_a_windows_path_to_a_photo_keeps_the_photos_name():
    assert clean_one("C:\\Users\\x\\photo.jpg", files.jpeg()).display_name == "photo.jpg"


def test_display_names_are_at_most_150_characters():
    name = clean_one("a" * 300 + ".pdf", files.pdf()).display_name
    assert len(name) == 150 and name.endswith("a.pdf")


# --- storage -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_stored_under_a_random_name_readable_by_this_user_only(
    attachment_root, settings, django_capture_on_commit_callbacks
):
    message = MessageFactory()
    clean = clean_one("letter.pdf", files.pdf())
    with django_capture_on_commit_callbacks(execute=True):
        [attachment] = attachments_store(message=message, files=[clean])
    attachment.refresh_from_db()
    path = attachment_path(attachment)
    assert path.read_bytes() == clean.data
    assert len(attachment.stored_name) == 32 and attachment.stored_name not in {"letter", "letter.pdf"}
    assert path.parent.parent == attachment_root
    assert not path.resolve().is_relative_to(Path(settings.MEDIA_ROOT).resolve())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(attachment_root.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert (attachment.display_name, attachment.content_type, attachment.size) == (
        "letter.pdf",
        "application/pdf",
        len(clean.data),
    )
    assert attachment.sha256 == hashlib.sha256(clean.data).hexdigest()
    assert attachment.scan_status == ScanStatus.NOT_SCANNED
    assert stored_files(attachment_root) == [path]


@pytest.mark.django_db
def test_two_attachments_get_different_names(django_capture_on_commit_callbacks):
    clean = clean_one("letter.pdf", files.pdf())
    with django_capture_on_commit_callbacks(execute=True):
        first, second = attachments_store(message=MessageFactory(), files=[clean, clean])
    assert first.stored_name != second.stored_name
    assert attachment_path(first).read_bytes() == attachment_path(second).read_bytes()


@pytest.mark.django_db
def test_a_file_is_not_in_place_until_the_transaction_commits(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        [attachment] = attachments_store(message=MessageFactory(), files=[clean_one("a.pdf", files.pdf())])
        assert not attachment_path(attachment).exists()
    for callback in callbacks:
        callback()
    assert attachment_path(attachment).exists()


@pytest.mark.django_db
def test_a_rolled_back_savepoint_leaves_no_file_and_no_row(attachment_root):
    message = MessageFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        attachments_store(message=message, files=[clean_one("a.pdf", files.pdf())])
        assert stored_files(attachment_root)  # written, waiting for the commit
        raise RuntimeError("something later in the same service failed")
    # Nothing that can be served, no row; the staged copy is the sweep's to delete, explicitly (no finaliser).
    assert placed_files(attachment_root) == []
    assert not Attachment.objects.exists()
    assert attachments_sweep_incoming(older_than_seconds=-1) == {"placed": 0, "deleted": 1}
    assert stored_files(attachment_root) == []


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_file_and_a_committed_one_keeps_it(attachment_root):
    message = MessageFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        attachments_store(message=message, files=[clean_one("a.pdf", files.pdf())])
        raise RuntimeError("rolled back")
    assert placed_files(attachment_root) == []
    assert not Attachment.objects.exists()
    assert attachments_sweep_incoming(older_than_seconds=-1) == {"placed": 0, "deleted": 1}
    assert stored_files(attachment_root) == []

    with transaction.atomic():
        [attachment] = attachments_store(message=message, files=[clean_one("b.pdf", files.pdf())])
    assert stored_files(attachment_root) == [attachment_path(attachment)]


@pytest.mark.django_db
def test_the_sweep_deletes_orphans_and_places_committed_files(attachment_root):
    incoming = attachment_root / "incoming"
    incoming.mkdir(parents=True)
    orphan = incoming / ("a" * 32)
    orphan.write_bytes(b"from a transaction that never committed")
    attachment = Attachment.objects.create(
        message=MessageFactory(),
        stored_name="b" * 32,
        display_name="a.pdf",
        content_type="application/pdf",
        size=3,
        sha256="0" * 64,
        scan_status=ScanStatus.NOT_SCANNED,
        created_at=MessageFactory().created_at,
    )
    committed = incoming / attachment.stored_name
    committed.write_bytes(b"pdf")
    recent = incoming / ("c" * 32)
    recent.write_bytes(b"a transaction still in progress")

    assert attachments_sweep_incoming(older_than_seconds=3600) == {"placed": 0, "deleted": 0}
    for path in (orphan, committed):
        old = path.stat().st_mtime - 7200
        import os

        os.utime(path, (old, old))
    assert attachments_sweep_incoming(older_than_seconds=3600) == {"placed": 1, "deleted": 1}
    assert not orphan.exists() and recent.exists()
    assert attachment_path(attachment).read_bytes() == b"pdf"


# --- serving -------------------------------------------------------------------------------------------------------


def _store(django_capture_on_commit_callbacks, name: str, data: bytes) -> Attachment:
    with django_capture_on_commit_callbacks(execute=True):
        [attachment] = attachments_store(message=MessageFactory(), files=[clean_one(name, data)])
    attachment.refresh_from_db()
    return attachment


@pytest.mark.django_db
def test_the_download_response_is_an_attachment_with_safe_headers(django_capture_on_commit_callbacks):
    # One PDF, kept: pikepdf writes a new document id each time it saves, so a second files.pdf() can differ.
    sent = files.pdf()
    attachment = _store(django_capture_on_commit_callbacks, "letter.pdf", sent)
    response = attachment_response(attachment)
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="letter.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert b"".join(response.streaming_content) == sent
    response.close()


@pytest.mark.django_db
def test_the_stored_and_downloaded_name_is_the_cleaned_one(django_capture_on_commit_callbacks):
    attachment = _store(django_capture_on_commit_callbacks, "../../x/gnp\u202eexe.png", files.png())
    assert attachment.display_name == "gnpexe.png"
    response = attachment_response(attachment)
    assert response["Content-Disposition"] == 'attachment; filename="gnpexe.png"'
    response.close()


@pytest.mark.django_db
def test_a_non_ascii_name_is_encoded_for_the_header(django_capture_on_commit_callbacks):
    attachment = _store(django_capture_on_commit_callbacks, "Résumé 🩺.pdf", files.pdf())
    response = attachment_response(attachment)
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''R%C3%A9sum%C3%A9%20%F0%9F%A9%BA.pdf"
    response.close()


@pytest.mark.django_db
@pytest.mark.parametrize("status", [ScanStatus.PENDING, ScanStatus.INFECTED, ScanStatus.FAILED])
def test_held_or_blocked_attachments_cannot_be_opened(status, django_capture_on_commit_callbacks):
    attachment = _store(django_capture_on_commit_callbacks, "letter.pdf", files.pdf())
    attachment.scan_status = status
    with pytest.raises(AttachmentUnavailable) as error:
        attachment_file_open(attachment)
    assert error.value.status == status
    assert "‘letter.pdf’" in str(error.value)
    with pytest.raises(AttachmentUnavailable):
        attachment_response(attachment)


@pytest.mark.django_db
def test_a_missing_file_is_unavailable_not_an_error(django_capture_on_commit_callbacks):
    attachment = _store(django_capture_on_commit_callbacks, "letter.pdf", files.pdf())
    attachment_path(attachment).unlink()
    with pytest.raises(AttachmentUnavailable):
        attachment_file_open(attachment)


@pytest.mark.django_db
def test_a_tampered_stored_name_never_leaves_the_root(django_capture_on_commit_callbacks):
    attachment = _store(django_capture_on_commit_callbacks, "letter.pdf", files.pdf())
    attachment.stored_name = "../../../../etc/passwd"
    with pytest.raises(ValueError, match="not a stored attachment name"):
        attachment_file_open(attachment)


# --- the form field ------------------------------------------------------------------------------------------------


class AttachForm(forms.Form):
    attachments = MultipleFileField(label="Attach files", required=False)


class RequiredAttachForm(forms.Form):
    attachments = MultipleFileField(label="Attach files")


def test_the_field_returns_every_chosen_file():
    from django.utils.datastructures import MultiValueDict

    chosen = [upload("a.pdf", files.pdf()), upload("b.png", files.png())]
    form = AttachForm(data={}, files=MultiValueDict({"attachments": chosen}))
    assert form.is_valid(), form.errors
    assert [f.name for f in form.cleaned_data["attachments"]] == ["a.pdf", "b.png"]


def test_the_field_returns_an_empty_list_when_nothing_was_chosen():
    form = AttachForm(data={}, files={})
    assert form.is_valid()
    assert form.cleaned_data["attachments"] == []


def test_a_required_field_needs_a_file():
    form = RequiredAttachForm(data={}, files={})
    assert not form.is_valid()
    assert form.errors["attachments"] == ["This field is required."]


def test_the_field_renders_as_an_nhs_file_upload_allowing_several_files():
    from django.utils.datastructures import MultiValueDict

    form = AttachForm(data={}, files=MultiValueDict({"attachments": [upload("secret-name.pdf", files.pdf())]}))
    html = str(form["attachments"].as_field_group())
    assert 'type="file"' in html and "nhsuk-file-upload" in html
    assert " multiple" in html
    assert 'accept="application/pdf,.pdf,image/jpeg,.jpg,.jpeg,image/png,.png,image/heic,.heic,.heif"' in html
    assert "You can attach up to 5 files (PDF, JPEG, PNG or HEIC), each smaller than 10 MB" in html
    # A file input is never given back what was chosen (and the name never leaks into the page).
    assert "secret-name" not in html
