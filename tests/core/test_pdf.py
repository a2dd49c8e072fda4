"""The PDF walk shared by attachments and letters: what each link policy keeps, and what always goes."""

import io

import pikepdf
import pytest

from careportal.core.pdf import (
    PAGE_AND_WEB_LINKS,
    PAGE_LINKS_ONLY,
    pdf_has_trailing_bytes,
    pdf_remove_active_content,
)


def pdf_with_link(uri: str) -> pikepdf.Pdf:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    link = pikepdf.Dictionary(
        Type=pikepdf.Name.Annot,
        Subtype=pikepdf.Name.Link,
        Rect=[0, 0, 100, 100],
        A=pikepdf.Dictionary(S=pikepdf.Name.URI, URI=pikepdf.String(uri)),
    )
    pdf.pages[0].Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(link)]))
    return pdf


def link_action(pdf: pikepdf.Pdf) -> object:
    return pdf.pages[0].Annots[0].get("/A")


def test_a_web_link_is_kept_for_attachments_and_removed_from_letters() -> None:
    attachment = pdf_with_link("https://www.nhs.uk/")
    assert pdf_remove_active_content(attachment, links=PAGE_AND_WEB_LINKS) == []
    assert link_action(attachment) is not None

    letter = pdf_with_link("https://www.nhs.uk/")
    assert pdf_remove_active_content(letter, links=PAGE_LINKS_ONLY) == ["action"]
    assert link_action(letter) is None


@pytest.mark.parametrize("links", [PAGE_AND_WEB_LINKS, PAGE_LINKS_ONLY], ids=["attachment", "letter"])
def test_javascript_links_and_document_scripts_always_go(links) -> None:
    pdf = pdf_with_link("javascript:alert(1)")
    pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))
    pdf.Root.Names = pikepdf.Dictionary(JavaScript=pikepdf.Dictionary(Names=pikepdf.Array()))

    removed = pdf_remove_active_content(pdf, links=links)

    assert {"OpenAction", "action"} <= set(removed)
    assert "/OpenAction" not in pdf.Root
    assert "/JavaScript" not in pdf.Root.Names
    assert link_action(pdf) is None


def test_bytes_after_the_end_marker_are_found() -> None:
    out = io.BytesIO()
    pikepdf.new().save(out)
    data = out.getvalue()
    assert not pdf_has_trailing_bytes(data)
    assert pdf_has_trailing_bytes(data + b"PK\x03\x04 hidden")
    assert pdf_has_trailing_bytes(b"%PDF-1.4 no end marker")
