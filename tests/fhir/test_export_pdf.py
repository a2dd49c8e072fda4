"""The PDF summary of "download my record" reads well: every section the copy holds under its heading, dates in
plain English, each value beside its normal range, a withdrawn result saying so without values, "None." for an
empty section, and long content flowing over several pages with every line inside the page."""

import datetime
import io
import re

import pikepdf
import pytest
from django.utils import timezone

from careportal.access.layer import Viewer
from careportal.access.scopes import ALL_SCOPES
from careportal.audit.models import ActorRole
from careportal.fhir.export_pdf import COLUMN, MARGIN, PAGE_HEIGHT, PAGE_WIDTH, summary_pdf, text_width, wrap
from careportal.fhir.export_selectors import record_contents
from tests.appointments.factories import AppointmentFactory
from tests.fhir.test_export import _record, pdf_text
from tests.messaging.factories import MessageFactory, ThreadFactory
from tests.patients.factories import PatientWithAccountFactory

pytestmark = pytest.mark.django_db

MADE_AT = datetime.datetime(2026, 3, 4, 14, 5, tzinfo=datetime.UTC)


def _viewer(patient) -> Viewer:
    return Viewer(user=patient.user, role=ActorRole.PATIENT, patient=patient, scopes=ALL_SCOPES)


def _pdf(patient) -> bytes:
    return summary_pdf(record_contents(viewer=_viewer(patient)), made_at=MADE_AT)


def shown_lines(data: bytes) -> list[tuple[int, float, float, str, str, float]]:
    """Each line drawn: (page, x, y, font, text, font size)."""
    lines = []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            font, size, x, y = "", 0.0, 0.0, 0.0
            for operands, operator in pikepdf.parse_content_stream(page):
                op = str(operator)
                if op == "Tf":
                    font, size = str(operands[0]), float(operands[1])
                elif op == "Td":
                    x, y = float(operands[0]), float(operands[1])
                elif op == "Tj":
                    lines.append((number, x, y, font, bytes(operands[0]).decode("latin-1"), size))
    return lines


def test_every_section_is_there_with_values_beside_their_ranges_and_dates_in_words() -> None:
    patient = PatientWithAccountFactory(given_name="Eleanor", family_name="Hargreaves")
    _record(patient)

    text = pdf_text(_pdf(patient))

    for heading in ("Test results", "Appointments", "Letters", "Messages", "Who has viewed your record"):
        assert f"\n{heading}\n" in text
    assert "Haemoglobin: 131 g/L (normal range 115-165 g/L)" in text
    assert "Made by CarePortal on 4 March 2026 at 14:05." in text
    assert re.search(r"Full blood count, sample taken \d{1,2} [A-Z][a-z]+ \d{4}", text)
    # The withdrawn result says so and shows no value
    assert "Ferritin" in text and "Withdrawn: the hospital withdrew this result" in text and "987" not in text
    assert "Clinic letter" in text and "Haematology follow-up" in text
    assert "Question about iron tablets (with Haematology)" in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)  # no machine dates


def test_empty_sections_say_none() -> None:
    patient = PatientWithAccountFactory()

    text = pdf_text(_pdf(patient))

    for heading in ("Test results", "Appointments", "Letters", "Messages", "Who has viewed your record"):
        following = text.split(f"\n{heading}\n", 1)[1].split("\n", 1)[0]
        assert following.startswith("None."), (heading, following)


def test_long_content_flows_over_pages_and_every_line_stays_inside_the_page() -> None:
    patient = PatientWithAccountFactory()
    _record(patient)
    start = timezone.now() + datetime.timedelta(days=1)
    for n in range(120):
        AppointmentFactory(
            patient=patient, service_name=f"Clinic visit number {n}", start=start + datetime.timedelta(days=n)
        )
    long_body = " ".join(["Wide WWWWWWWW words and MMMMMM capitals in a long message."] * 80)
    address = "https://example.org/" + "x" * 300  # one word far wider than a line
    thread = ThreadFactory(patient=patient, subject=("A very long question " * 5).strip())
    MessageFactory(thread=thread, body=f"{long_body} {address}")

    data = _pdf(patient)
    lines = shown_lines(data)

    pages = max(page for page, *_ in lines)
    assert pages >= 4
    assert lines[-1][4] == f"Page {pages} of {pages}"
    for _page, x, y, font, text, size in lines:
        assert x >= MARGIN and MARGIN / 2 <= y <= PAGE_HEIGHT - MARGIN
        assert x + text_width(text, size=int(size), bold=font == "/F2") <= PAGE_WIDTH - MARGIN + 0.01, text
    body = " ".join(text for *_, text, _size in lines)
    assert "Clinic visit number 0 " in body + " " and "Clinic visit number 119" in body
    # Nothing of the long message is lost: its words, and the long address joined back from its pieces
    assert body.count("Wide WWWWWWWW words and MMMMMM capitals in a long message.") >= 70
    assert address in "".join(text for *_, text, _size in lines)


def test_wrapping_measures_printed_width_not_characters() -> None:
    assert len(wrap("W" * 100, width=COLUMN, size=10)) == 2  # 100 Ws are twice a column wide
    assert len(wrap("i" * 200, width=COLUMN, size=10)) == 1  # 200 is are under one
    assert "".join(wrap("x" * 1000, width=COLUMN, size=10)) == "x" * 1000
    assert wrap("", width=COLUMN, size=10) == [""]


def test_a_heading_is_never_left_alone_at_the_foot_of_a_page() -> None:
    patient = PatientWithAccountFactory()
    _record(patient)
    for n in range(60):
        AppointmentFactory(patient=patient, start=timezone.now() + datetime.timedelta(days=n + 1))

    lines = shown_lines(_pdf(patient))

    for index, (page, _x, _y, font, text, size) in enumerate(lines[:-1]):
        if font == "/F2" and size >= 13:  # a section heading
            assert lines[index + 1][0] == page, text
