"""PDFs and MDM messages for the letters tests, built here so that each test shows what it sends."""

from __future__ import annotations

import base64
import hashlib
import io

import pikepdf
from django.core.files.base import ContentFile

from careportal.letters.models import Letter
from careportal.letters.storage import letter_file_name, letter_storage


def make_pdf(
    *,
    pages: int = 1,
    javascript: bool = False,
    embedded_file: bool = False,
    launch_link: bool = False,
    web_link: bool = False,
    password: str = "",
) -> bytes:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=(595, 842))
    if javascript:
        script = pdf.make_indirect(
            pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('hello')"))
        )
        pdf.Root.OpenAction = script
        pdf.Root.Names = pikepdf.Dictionary(
            JavaScript=pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("hello"), script]))
        )
    if embedded_file:
        pdf.attachments["note.txt"] = pikepdf.AttachedFileSpec(pdf, b"an embedded file")
    annotations = []
    if launch_link:
        action = pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("cmd.exe"))
        annotations.append(
            pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[0, 0, 10, 10], A=action)
        )
    if web_link:
        action = pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String("https://example.org/"))
        annotations.append(
            pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[0, 0, 10, 10], A=action)
        )
    if annotations:
        pdf.pages[0].Annots = pdf.make_indirect(pikepdf.Array(annotations))
    output = io.BytesIO()
    if password:
        pdf.save(output, encryption=pikepdf.Encryption(user=password, owner=password))
    else:
        pdf.save(output)
    return output.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mdm_message(
    *,
    pdf: bytes | None = None,
    data: str | None = None,
    event: str = "T02",
    control_id: str = "MDM0001",
    hospital_number: str = "40012345",
    document_id: str = "DOC-1",
    parent_id: str = "",
    activity: str = "20261106105500",
    edit: str = "",
    sent: str = "20261106110000",
    status: str = "AU",
    document_type: str = "CL^Clinic letter",
    ed: str = "^AP^PDF^Base64^",
    with_obx: bool = True,
) -> bytes:
    """An MDM message from the document system (EDM), like tests/hl7/samples/mdm_t02_letter.hl7."""
    if data is None:
        data = base64.b64encode(pdf if pdf is not None else make_pdf()).decode()
    segments = [
        f"MSH|^~\\&|EDM|RRV|CAREPORTAL|RRV|{sent}||MDM^{event}|{control_id}|P|2.5|||AL|NE|GBR|UNICODE UTF-8",
        f"EVN|{event}|{sent}",
        f"PID|1||{hospital_number}^^^RRV^MR||HARGREAVES^ELEANOR^MAY^^MRS||19580314|F",
        "PV1|1|O|HAEM^^^RRV",
        f"TXA|1|{document_type}|AP^application/pdf|{activity}|C1234567^OKAFOR^CHIDI^^^DR|||{edit}||||"
        f"{document_id}^EDM|{parent_id}||||{status}",
    ]
    if with_obx and event != "T11":
        segments.append(f"OBX|1|ED|LETTER^Clinic letter^LOCAL||{ed}{data}||||||F")
    return ("\r".join(segments) + "\r").encode()


def stored_letter(letter: Letter) -> bytes:
    with letter_storage().open(letter_file_name(letter.stored_name), "rb") as file:
        return file.read()


def letter_file_exists(stored_name: str) -> bool:
    return letter_storage().exists(letter_file_name(stored_name))


def store_letter_file(letter: Letter, data: bytes) -> None:
    """Put a factory-made letter's file where the storage keeps it (app code stages and places it on commit)."""
    letter_storage().save(letter_file_name(letter.stored_name), ContentFile(data))
