"""The PDF check: a letter is a PDF by its content, never encrypted, not too large, and stored without active
content (careportal/letters/pdf.py)."""

import io

import pikepdf
import pytest

from careportal.letters.pdf import DocumentRejected, pdf_check
from tests.letters.helpers import make_pdf

LIMIT = 5 * 1024 * 1024


def _reopen(data: bytes) -> pikepdf.Pdf:
    return pikepdf.open(io.BytesIO(data))


def test_a_plain_pdf_is_kept_byte_for_byte_with_its_page_count():
    data = make_pdf(pages=3)

    checked = pdf_check(data, max_bytes=LIMIT)

    assert checked.data == data
    assert checked.page_count == 3
    assert checked.removed == ()


@pytest.mark.parametrize(
    "data",
    [b"Hello, this is text", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b"<html><script>alert(1)</script></html>"],
    ids=["text", "png", "html"],
)
def test_something_that_is_not_a_pdf_is_refused(data):
    with pytest.raises(DocumentRejected) as refused:
        pdf_check(data, max_bytes=LIMIT)

    assert refused.value.reason == "the document is not a PDF"


def test_a_file_that_only_starts_like_a_pdf_is_refused():
    with pytest.raises(DocumentRejected, match="not a PDF"):
        pdf_check(b"%PDF-1.7\nthis is not really a PDF at all", max_bytes=LIMIT)


def test_an_empty_document_is_refused():
    with pytest.raises(DocumentRejected, match="empty"):
        pdf_check(b"", max_bytes=LIMIT)


def test_a_password_protected_pdf_is_refused():
    with pytest.raises(DocumentRejected) as refused:
        pdf_check(make_pdf(password="secret"), max_bytes=LIMIT)

    assert refused.value.code == "encrypted"


def test_a_pdf_larger_than_the_limit_is_refused_before_it_is_opened():
    data = make_pdf()

    with pytest.raises(DocumentRejected) as refused:
        pdf_check(data, max_bytes=len(data) - 1)

    assert refused.value.code == "too_large"


def test_javascript_and_automatic_actions_are_taken_out_and_flagged():
    checked = pdf_check(make_pdf(javascript=True), max_bytes=LIMIT)

    assert {"JavaScript", "OpenAction"} <= set(checked.removed)
    cleaned = _reopen(checked.data)
    assert "/OpenAction" not in cleaned.Root
    assert "/JavaScript" not in cleaned.Root.get("/Names", {})
    assert b"app.alert" not in checked.data


def test_embedded_files_are_taken_out():
    checked = pdf_check(make_pdf(embedded_file=True), max_bytes=LIMIT)

    assert "EmbeddedFiles" in checked.removed
    assert len(_reopen(checked.data).attachments) == 0


@pytest.mark.parametrize("link", ["launch_link", "web_link"])
def test_launch_and_web_link_actions_on_annotations_are_taken_out(link):
    checked = pdf_check(make_pdf(**{link: True}), max_bytes=LIMIT)

    assert "action" in checked.removed
    cleaned = _reopen(checked.data)
    for annotation in cleaned.pages[0].get("/Annots", []):
        assert "/A" not in annotation


def test_bytes_before_the_header_and_after_the_end_are_dropped():
    data = make_pdf()

    checked = pdf_check(b"junk" + data + b"<script>alert(1)</script>", max_bytes=LIMIT)

    assert checked.data.startswith(b"%PDF-")
    assert b"<script>" not in checked.data
    assert checked.page_count == 1


def test_cleaning_the_same_pdf_twice_gives_the_same_bytes():
    data = make_pdf(javascript=True)

    assert pdf_check(data, max_bytes=LIMIT).data == pdf_check(data, max_bytes=LIMIT).data
