"""The patient's and proxy's test results pages: /test-results/ and below."""

import datetime
import re
import zoneinfo
from decimal import Decimal
from html import unescape

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from careportal.audit.models import AccessEvent
from careportal.results.models import DiagnosticReportVersion
from careportal.results.presenters import observation_position
from tests.accounts.factories import UserFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory, ResultPreferenceFactory

LONDON = zoneinfo.ZoneInfo("Europe/London")
LIST = "/test-results/"


def at(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=LONDON)


def released(patient, **kwargs):  # type: ignore[no-untyped-def]
    return DiagnosticReportFactory(patient=patient, released=True, **kwargs)


def page_text(response) -> str:  # type: ignore[no-untyped-def]
    """The main content's words with tags removed and spaces collapsed, for sentences that span elements."""
    html = response.content.decode()
    html = html.split("<main", 1)[-1].split("</main>", 1)[0]
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def listed(response) -> str:  # type: ignore[no-untyped-def]
    """The words of the results list alone (not the filter's options)."""
    html = response.content.decode()
    match = re.search(
        r'<ul class="nhsuk-list nhsuk-list--border" aria-label="Test results, newest first">.*?</ul>', html, re.S
    )
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(0))).split()) if match else ""


def report_url(report) -> str:  # type: ignore[no-untyped-def]
    return reverse("results:report", kwargs={"public_id": report.public_id})


# The list ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_is_newest_first_and_links_released_reports(patient, patient_client):
    older = released(patient, test_name="Kidney function", test_code="U&E", collected_at=at(2026, 10, 1, 9))
    newer = released(patient, test_name="Full blood count", collected_at=at(2026, 11, 2, 9))

    response = patient_client.get(LIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("Full blood count") < html.index("Kidney function")
    assert report_url(newer) in html and report_url(older) in html
    text = page_text(response)
    assert "Taken on 2 November 2026" in text
    assert "Released on" in text


@pytest.mark.django_db
@time_machine.travel(at(2026, 11, 2, 15), tick=False)
def test_a_report_waiting_for_release_says_when_to_expect_it(patient, patient_client):
    report = DiagnosticReportFactory(
        patient=patient, collected_at=at(2026, 11, 2, 9), release_due_at=at(2026, 11, 3, 9), reported_at=timezone.now()
    )
    ObservationFactory(report=report, value_text="98", value_numeric=Decimal("98"))

    response = patient_client.get(LIST)

    text = page_text(response)
    assert "Taken on 2 November 2026" in text
    assert "You can expect the result by Tuesday 3 November 2026." in text
    assert text.count("2 November 2026") == 1, "the list gives the date the test was done once"
    assert report_url(report) not in response.content.decode(), "nothing to open before release"
    unreleased_page = page_text(patient_client.get(report_url(report)))
    assert "This test was done on 2 November 2026. You can expect the result by Tuesday 3 November 2026." in (
        unreleased_page
    )
    assert "98" not in text


@pytest.mark.django_db
@time_machine.travel(at(2026, 7, 14, 12), tick=False)
def test_the_expected_date_is_the_trusts_local_date(patient, patient_client):
    # 23:30 UTC on 14 July is 00:30 on 15 July in London (BST): the patient is told the 15th.
    DiagnosticReportFactory(
        patient=patient,
        collected_at=at(2026, 7, 14, 9),
        release_due_at=datetime.datetime(2026, 7, 14, 23, 30, tzinfo=datetime.UTC),
    )

    assert "You can expect the result by Wednesday 15 July 2026." in page_text(patient_client.get(LIST))


@pytest.mark.django_db
def test_a_due_report_not_yet_released_is_expected_soon(patient, patient_client):
    DiagnosticReportFactory(patient=patient, release_due_at=timezone.now() - datetime.timedelta(hours=1))

    assert "The result should be ready soon." in page_text(patient_client.get(LIST))


@pytest.mark.django_db
def test_a_review_only_report_says_a_clinician_will_release_it(patient, patient_client):
    DiagnosticReportFactory(patient=patient, release_mode="after_review", release_due_at=None, test_name="Histology")

    assert "A clinician will look at this result and then release it to you." in page_text(patient_client.get(LIST))


@pytest.mark.django_db
def test_a_held_report_reads_exactly_like_one_waiting_for_review(patient, patient_client):
    clinician = UserFactory(display_name="Dr A Okafor")
    report = DiagnosticReportFactory(
        patient=patient,
        held_at=timezone.now(),
        held_by=clinician,
        hold_reason="Discuss the raised marker in clinic first",
    )

    for url in (LIST, report_url(report)):
        response = patient_client.get(url)
        text = page_text(response)
        assert "A clinician will look at this result and then release it to you." in text
        assert "raised marker" not in text
        assert not re.search(r"\bhe(ld|ld back)\b|\bhold\b", text, flags=re.I), "a hold is never mentioned"
        assert "Tuesday" not in text and "expect the result by" not in text


@pytest.mark.django_db
def test_a_kind_the_patient_chose_to_wait_for_says_so(patient, patient_client):
    ResultPreferenceFactory(patient=patient, result_kind="lab")
    DiagnosticReportFactory(patient=patient, result_kind="lab")

    text = page_text(patient_client.get(LIST))

    assert "You asked to see these results only after a clinician has released them." in text
    assert "You have chosen to wait for a clinician to look at these results first: blood, urine" in text


@pytest.mark.django_db
def test_the_list_says_how_many_results_wait_for_a_clinician_without_saying_why(patient, patient_client):
    DiagnosticReportFactory(patient=patient, release_mode="after_review", release_due_at=None)
    DiagnosticReportFactory(patient=patient, held_at=timezone.now(), hold_reason="Tell them in clinic")
    ResultPreferenceFactory(patient=patient, result_kind="imaging")
    DiagnosticReportFactory(patient=patient, result_kind="imaging")
    # Not waiting for a clinician: due for release on its own, not finished by the lab, or already released.
    DiagnosticReportFactory(patient=patient)
    DiagnosticReportFactory(patient=patient, status="preliminary", release_mode="after_review", release_due_at=None)
    released(patient, release_mode="after_review", release_due_at=None)

    text = page_text(patient_client.get(LIST))

    assert "3 of your results are waiting for a clinician to look at them before they are shown here." in text
    assert "You do not need to do anything. We will let you know when they are ready." in text
    assert "Tell them" not in text and not re.search(r"\bhold|\bheld", text, flags=re.I)


@pytest.mark.django_db
def test_the_list_says_nothing_about_waiting_when_no_result_waits_for_a_clinician(patient, patient_client):
    DiagnosticReportFactory(patient=patient)

    assert "waiting for a clinician" not in page_text(patient_client.get(LIST))


@pytest.mark.django_db
def test_a_proxy_is_told_how_many_of_the_childs_results_wait(proxy_relationship, proxy_client):
    child = proxy_relationship.patient
    DiagnosticReportFactory(patient=child, release_mode="after_review", release_due_at=None)

    text = page_text(proxy_client.get(LIST))

    waiting = f"1 of {child.given_name}'s results is waiting for a clinician to look at it before it is shown here."
    assert waiting in text


@pytest.mark.django_db
def test_a_proxy_is_not_told_of_a_sensitive_result_waiting(proxy_relationship, proxy_client):
    DiagnosticReportFactory(
        patient=proxy_relationship.patient,
        release_mode="after_review",
        release_due_at=None,
        sensitive_category="sexual_health",
    )

    assert "waiting for a clinician" not in page_text(proxy_client.get(LIST))


@pytest.mark.django_db
def test_a_preliminary_report_says_the_lab_has_not_finished(patient, patient_client):
    DiagnosticReportFactory(patient=patient, status="preliminary")

    assert "The lab has not finished this test yet." in page_text(patient_client.get(LIST))


@pytest.mark.django_db
def test_a_withdrawn_report_shows_no_values_anywhere(patient, patient_client):
    report = released(patient, retracted_at=timezone.now(), retraction_reason="Wrong patient label")
    ObservationFactory(report=report, value_text="171", value_numeric=Decimal("171"))

    listing = patient_client.get(LIST)
    page = patient_client.get(report_url(report))

    assert "This result has been withdrawn." in page_text(listing)
    assert report_url(report) not in listing.content.decode()
    assert page.status_code == 200
    assert "This result has been withdrawn." in page_text(page)
    for response in (listing, page):
        assert "171" not in page_text(response)
        assert "Wrong patient label" not in page_text(response)


@pytest.mark.django_db
def test_a_cancelled_test_never_released_is_not_listed(patient, patient_client):
    cancelled = DiagnosticReportFactory(patient=patient, status="cancelled", test_name="Vitamin D")

    assert "Vitamin D" not in page_text(patient_client.get(LIST))
    assert patient_client.get(report_url(cancelled)).status_code == 404


@pytest.mark.django_db
def test_the_empty_state_says_when_results_appear(patient_client):
    text = page_text(patient_client.get(LIST))

    assert "No test results yet" in text
    assert "Most blood test results appear after 1 working day." in text
    assert "Scan and X-ray reports appear after about 3 weeks." in text


@pytest.mark.django_db
def test_the_list_shows_the_wait_for_my_clinician_choice_with_a_link_to_change_it(patient_client):
    response = patient_client.get(LIST)

    assert "Your results are shown as soon as they are ready, which can be before a clinician" in page_text(response)
    assert "Choose which results wait for a clinician" in page_text(response)
    assert reverse("results:preferences") in response.content.decode()


@pytest.mark.django_db
def test_the_list_can_be_filtered_by_test(patient, patient_client):
    released(patient, test_code="FBC", test_name="Full blood count")
    released(patient, test_code="LFT", test_name="Liver function")

    response = patient_client.get(LIST, {"test": "LFT"})

    assert "Liver function" in listed(response)
    assert "Full blood count" not in listed(response)
    assert "Full blood count" in page_text(response), "still offered in the filter"
    assert '<option value="LFT" selected' in response.content.decode()


@pytest.mark.django_db
def test_a_test_the_patient_does_not_have_is_a_clear_message_not_an_error(patient, patient_client, other_patient):
    released(patient, test_code="FBC")
    released(other_patient, test_code="HIV", test_name="HIV antibody")

    for value in ("HIV", "<script>", "x" * 500):
        response = patient_client.get(LIST, {"test": value})
        assert response.status_code == 200
        text = page_text(response)
        assert "Choose a test from the list" in text
        assert "Full blood count" in listed(response), "all results are shown instead"
        assert "HIV antibody" not in text


@pytest.mark.django_db
def test_the_list_is_paged(patient, patient_client):
    for day in range(1, 26):
        released(patient, test_name=f"Test {day:02d}", collected_at=at(2026, 1, day, 9))

    first = listed(patient_client.get(LIST))
    second = listed(patient_client.get(LIST, {"page": 2}))

    assert "Test 25" in first and "Test 06" in first and "Test 05" not in first
    assert "Test 05" in second and "Test 01" in second and "Test 25" not in second


@pytest.mark.django_db
def test_the_filter_is_kept_across_pages(patient, patient_client):
    for day in range(1, 23):
        released(patient, test_code="FBC", collected_at=at(2026, 1, day, 9))
    released(patient, test_code="LFT", test_name="Liver function")

    html = patient_client.get(LIST, {"test": "FBC"}).content.decode()

    assert "?page=2&amp;test=FBC" in html


def queries_for(client, url: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_the_list_takes_the_same_number_of_queries_however_long_it_is(
    patient, patient_client, django_assert_num_queries
):
    def add_reports(count: int) -> None:
        for n in range(count):
            report = released(patient) if n % 3 else DiagnosticReportFactory(patient=patient)
            ObservationFactory.create_batch(3, report=report)

    ResultPreferenceFactory(patient=patient, result_kind="imaging")
    add_reports(3)
    patient_client.get(LIST)  # the first request of a session writes the session itself
    with_three = queries_for(patient_client, LIST)
    add_reports(27)

    with django_assert_num_queries(with_three):
        assert patient_client.get(LIST).status_code == 200


# The report page -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_released_report_shows_each_value_with_unit_range_and_position(patient, patient_client):
    report = released(patient)
    ObservationFactory(report=report, name="Haemoglobin", value_text="135", unit="g/L", reference_range="115-165")
    ObservationFactory(report=report, name="Platelets", code="PLT", value_text="80", unit="10*9/L", interpretation="L")
    ObservationFactory(report=report, name="White cells", code="WBC", value_text="12.1", interpretation="H")
    ObservationFactory(report=report, name="Potassium", code="K", value_text="7.1", interpretation="HH")
    ObservationFactory(report=report, name="Sodium", code="NA", value_text="118", interpretation="LL")

    response = patient_client.get(report_url(report))

    assert response.status_code == 200
    text = page_text(response)
    # The range is kept on one line by word joiners (U+2060) either side of its hyphen.
    assert "Haemoglobin" in text and "135 g/L" in text and "115\u2060-\u2060165" in text
    assert "✓ Within range" in text
    assert "↓ Below range" in text
    assert "↑ Above range" in text
    assert "‼ Far above range" in text
    assert "‼ Far below range" in text
    # The symbol is for the eye; screen readers hear the words once, not "double exclamation mark".
    assert '<span aria-hidden="true" class="careportal-result-symbol">‼</span> Far above range' in (
        response.content.decode()
    )


@pytest.mark.django_db
def test_without_a_flag_the_position_comes_from_the_range(patient, patient_client):
    report = released(patient)
    ObservationFactory(report=report, value_text="170", value_numeric=Decimal("170"), interpretation="")
    ObservationFactory(
        report=report,
        code="GFR",
        name="eGFR",
        value_text=">90",
        value_numeric=Decimal("90"),
        value_comparator=">",
        value_type="SN",
        interpretation="",
        reference_range="",
        reference_low=None,
        reference_high=None,
    )

    text = page_text(patient_client.get(report_url(report)))

    assert "↑ Above range" in text
    assert ">90" in text and "No range to compare with" in text


@pytest.mark.parametrize(
    ("value", "comparator", "low", "high", "expected"),
    [
        ("90", ">", "60", None, "Within range"),  # eGFR ">90" against ">60"
        ("165", ">", "115", "165", "Above range"),
        ("5", "<", "3", "10", None),  # "<5" against 3 to 10 could be either
        ("2", "<", "3", "10", "Below range"),
        ("0.5", "<", None, "1", "Within range"),
        ("50", "", "60", None, "Below range"),
        ("50", "", None, None, None),
    ],
)
def test_where_a_value_without_a_flag_sits_is_worked_out_only_when_certain(value, comparator, low, high, expected):
    position = observation_position(
        {
            "value_numeric": Decimal(value),
            "value_comparator": comparator,
            "reference_low": Decimal(low) if low else None,
            "reference_high": Decimal(high) if high else None,
            "interpretation": "",
        }
    )

    assert (position.words if position else None) == expected


@pytest.mark.django_db
def test_a_text_report_reads_as_paragraphs_not_as_a_table(patient, patient_client):
    report = released(patient, result_kind="imaging", test_name="CT chest")
    ObservationFactory(
        report=report,
        value_type="FT",
        code="REP",
        name="Findings",
        value_numeric=None,
        unit="",
        value_text="No consolidation.\nSmall nodule, likely benign.",
        reference_range="",
        interpretation="",
    )

    response = patient_client.get(report_url(report))

    html = response.content.decode()
    assert '<p class="careportal-result-text">No consolidation.<br>Small nodule, likely benign.</p>' in html
    assert "nhsuk-table" not in html
    assert "The range shows what is usual" not in page_text(response)


@pytest.mark.django_db
def test_text_values_keep_their_lines_and_html_is_escaped(patient, patient_client):
    report = released(patient, lab_comment="Sample <b>haemolysed</b>\nRepeat advised")
    ObservationFactory(
        report=report,
        value_type="FT",
        code="FILM",
        name="Blood film",
        value_numeric=None,
        value_text="Red cells normal\nNo blasts seen",
        unit="",
        reference_range="",
        interpretation="",
    )
    ObservationFactory(
        report=report,
        value_type="ST",
        code="COM",
        name="Comment",
        value_numeric=None,
        value_text='<script>alert("x")</script><img src=x onerror=alert(1)>',
        interpretation="",
        comment="Checked <i>twice</i>",
    )
    ObservationFactory(
        report=report,
        value_type="CE",
        code="ABO",
        name="Blood group",
        value_numeric=None,
        value_text="O Rh D positive",
        value_code="O+",
        interpretation="",
        reference_range="",
    )

    html = patient_client.get(report_url(report)).content.decode()

    assert "Red cells normal<br>No blasts seen" in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "Checked &lt;i&gt;twice&lt;/i&gt;" in html
    assert "Sample &lt;b&gt;haemolysed&lt;/b&gt;<br>Repeat advised" in html
    assert "O Rh D positive" in html


@pytest.mark.django_db
def test_numeric_values_link_to_their_trend(patient, patient_client):
    report = released(patient)
    ObservationFactory(report=report)
    ObservationFactory(report=report, value_type="ST", code="COM", value_numeric=None, value_text="Fine")

    html = patient_client.get(report_url(report)).content.decode()

    assert reverse("results:trend", kwargs={"code": "HB"}) in html
    assert reverse("results:trend", kwargs={"code": "COM"}) not in html


@pytest.mark.django_db
def test_the_clinicians_and_the_labs_comments_are_shown(patient, patient_client):
    clinician = UserFactory(display_name="Dr A Okafor")
    report = released(
        patient, clinician_comment="Nothing to worry about.", clinician_comment_by=clinician, lab_comment="Lipaemic"
    )

    text = page_text(patient_client.get(report_url(report)))

    assert "A note from your clinician Nothing to worry about. Dr A Okafor" in text
    assert "Comment from the lab Lipaemic" in text


@pytest.mark.django_db
def test_who_released_the_report_and_when(patient, patient_client):
    clinician = UserFactory(display_name="Dr A Okafor")
    by_hand = released(patient, released_at=at(2026, 11, 3, 10), released_by=clinician)
    by_job = released(patient, released_at=at(2026, 11, 4, 10))

    assert "Released to you on 3 November 2026 by Dr A Okafor." in page_text(patient_client.get(report_url(by_hand)))
    assert "Released to you on 4 November 2026, automatically" in page_text(patient_client.get(report_url(by_job)))


@pytest.mark.django_db
def test_an_amended_report_says_so_and_keeps_the_earlier_version(patient, patient_client):
    # The correction's own report time (OBR-22) is the date the patient is told, not when the message arrived.
    report = released(patient, is_amended=True, version=2, reported_at=at(2026, 11, 4, 9))
    ObservationFactory(report=report, value_text="128", value_numeric=Decimal("128"))
    DiagnosticReportVersion.objects.create(
        report=report,
        version=1,
        status="final",
        reported_at=at(2026, 11, 2, 12),
        replaced_at=at(2026, 11, 4, 9),
        reason="corrected",
        was_released=True,
        lab_comment="First issue",
        observations=[
            {
                "name": "Haemoglobin",
                "value_text": "182",
                "unit": "g/L",
                "reference_range": "115-165",
                "interpretation": "H",
            },
        ],
    )
    DiagnosticReportVersion.objects.create(
        report=report,
        version=0,
        status="preliminary",
        replaced_at=at(2026, 11, 2, 12),
        reason="preliminary_replaced",
        observations=[{"name": "Haemoglobin", "value_text": "999", "unit": "g/L"}],
    )

    response = patient_client.get(report_url(report))

    text = page_text(response)
    assert "The lab corrected this report on 4 November 2026." in text
    assert "128 g/L" in text
    assert "nhsuk-details" in response.content.decode()
    assert "See the earlier version, reported on 2 November 2026" in text
    assert "182 g/L" in text and "↑ Above range" in text and "First issue" in text
    assert "999" not in text, "a preliminary version replaced as usual is not an amendment"


@pytest.mark.django_db
def test_an_imaging_report_carries_the_discuss_with_your_clinician_notice(patient, patient_client):
    scan = released(patient, result_kind="imaging", test_name="CT chest")
    blood = released(patient)

    assert "discuss this with the clinician who referred you" in page_text(patient_client.get(report_url(scan)))
    assert "clinician who referred you" not in page_text(patient_client.get(report_url(blood)))


@pytest.mark.django_db
def test_an_unreleased_report_page_says_when_to_expect_it_and_shows_no_values(patient, patient_client):
    report = DiagnosticReportFactory(patient=patient, clinician_comment="Secret", lab_comment="Lab note")
    ObservationFactory(report=report, value_text="171")

    text = page_text(patient_client.get(report_url(report)))

    assert "You can expect the result by" in text
    assert "171" not in text and "Secret" not in text and "Lab note" not in text


@pytest.mark.django_db
def test_a_released_preliminary_report_says_it_may_change(patient, patient_client):
    report = released(patient, status="preliminary")

    assert "The lab has not finished this test yet. These results may change" in page_text(
        patient_client.get(report_url(report))
    )


@pytest.mark.django_db
def test_the_report_page_takes_the_same_number_of_queries_however_many_values(
    patient, patient_client, django_assert_num_queries
):
    report = released(patient, is_amended=True, released_by=UserFactory())
    ObservationFactory.create_batch(2, report=report)
    patient_client.get(report_url(report))
    with_two = queries_for(patient_client, report_url(report))
    ObservationFactory.create_batch(10, report=report)

    with django_assert_num_queries(with_two):
        assert patient_client.get(report_url(report)).status_code == 200


@pytest.mark.django_db
def test_another_patients_report_is_not_found_and_the_attempt_is_audited(patient_client, other_patient):
    report = released(other_patient, test_name="Full blood count")

    response = patient_client.get(report_url(report))

    assert response.status_code == 404
    assert AccessEvent.objects.get().action == "denied"


# Attachments -----------------------------------------------------------------------------------------------


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def attachment_on(report, *, content_type="application/pdf", data=b"%PDF-1.4 test", sequence=5):  # type: ignore[no-untyped-def]
    observation = ObservationFactory(
        report=report,
        sequence=sequence,
        value_type="ED",
        code="PDF",
        name="Full report",
        value_text="",
        value_numeric=None,
        attachment_content_type=content_type,
        interpretation="",
        reference_range="",
    )
    observation.attachment.save("report.pdf", ContentFile(data))
    return observation


def attachment_url(report, sequence=5) -> str:  # type: ignore[no-untyped-def]
    return reverse("results:attachment", kwargs={"public_id": report.public_id, "sequence": sequence})


@pytest.mark.django_db
def test_an_attachment_is_listed_and_downloaded_only_as_an_attachment(patient, patient_client, media_root):
    report = released(patient, test_name="Echo report")
    attachment_on(report)

    page = patient_client.get(report_url(report)).content.decode()
    response = patient_client.get(attachment_url(report))

    assert attachment_url(report) in page and "Download Full report (PDF)" in page
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 test"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="echo-report-5.pdf"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    event = AccessEvent.objects.filter(action="download").get()
    assert event.patient == patient and event.object_id == str(report.public_id)
    assert event.object_label == "test result attachment"


@pytest.mark.django_db
def test_an_attachment_of_an_unexpected_type_is_served_as_plain_bytes(patient, patient_client, media_root):
    report = released(patient)
    attachment_on(report, content_type="text/html", data=b"<script>alert(1)</script>")

    response = patient_client.get(attachment_url(report))

    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["unreleased", "withdrawn", "no such sequence", "value without attachment"])
def test_an_attachment_that_cannot_be_read_is_not_found(patient, patient_client, media_root, state):
    report = {
        "unreleased": lambda: DiagnosticReportFactory(patient=patient),
        "withdrawn": lambda: released(patient, retracted_at=timezone.now()),
    }.get(state, lambda: released(patient))()
    attachment_on(report)
    plain = ObservationFactory(report=report, sequence=6)
    sequence = {"no such sequence": 99, "value without attachment": plain.sequence}.get(state, 5)

    response = patient_client.get(attachment_url(report, sequence))

    assert response.status_code == 404
    assert AccessEvent.objects.filter(action="denied").count() == 1


# Proxies ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_proxy_sees_the_childs_results_and_whose_they_are(proxy_relationship, proxy_client):
    child = proxy_relationship.patient
    report = released(child)
    ObservationFactory(report=report)

    listing = proxy_client.get(LIST)
    page = proxy_client.get(report_url(report))

    assert listing.status_code == page.status_code == 200
    assert child.full_name in page_text(listing)
    assert f"{child.full_name}'s record" in page_text(page)
    assert f"Released to {child.given_name} on" in page_text(page)
    event = AccessEvent.objects.filter(action="view", object_label="test result").get()
    assert event.actor == proxy_relationship.proxy and event.patient == child


@pytest.mark.django_db
def test_a_proxy_without_the_results_scope_gets_404(proxy_relationship, proxy_client):
    proxy_relationship.scopes = ["appointments", "letters"]
    proxy_relationship.save()
    report = released(proxy_relationship.patient)
    ObservationFactory(report=report)

    for url in (LIST, report_url(report), reverse("results:trend", kwargs={"code": "HB"}), "/home/"):
        response = proxy_client.get(url)
        if url == "/home/":
            assert LIST not in response.content.decode(), "no card or navigation item without the scope"
        else:
            assert response.status_code == 404, url


@pytest.mark.django_db
def test_a_proxy_sees_nothing_of_a_sensitive_report_not_granted(proxy_relationship, proxy_client, media_root):
    child = proxy_relationship.patient
    sensitive = released(child, test_name="Chlamydia screen", test_code="CHLAM", sensitive_category="sexual_health")
    ObservationFactory(report=sensitive, code="CHL", value_numeric=Decimal("1"))
    attachment_on(sensitive)
    waiting = DiagnosticReportFactory(patient=child, test_name="HIV antibody", sensitive_category="hiv")
    released(child, test_name="Full blood count")

    listing = page_text(proxy_client.get(LIST))

    assert "Full blood count" in listing
    assert "Chlamydia" not in listing and "HIV" not in listing, "not even that a test was done"
    assert proxy_client.get(LIST, {"test": "CHLAM"}).status_code == 200
    assert "Choose a test from the list" in page_text(proxy_client.get(LIST, {"test": "CHLAM"}))
    for url in (
        report_url(sensitive),
        report_url(waiting),
        attachment_url(sensitive),
        reverse("results:trend", kwargs={"code": "CHL"}),
    ):
        assert proxy_client.get(url).status_code == 404, url
    assert "1 test result is ready" in page_text(proxy_client.get("/home/"))


@pytest.mark.django_db
def test_a_proxy_granted_a_sensitive_category_sees_those_reports(proxy_relationship, proxy_client):
    proxy_relationship.sensitive_categories_granted = ["sexual_health"]
    proxy_relationship.save()
    child = proxy_relationship.patient
    granted = released(child, test_name="Chlamydia screen", sensitive_category="sexual_health")
    not_granted = released(child, test_name="HIV antibody", sensitive_category="hiv")

    assert proxy_client.get(report_url(granted)).status_code == 200
    assert proxy_client.get(report_url(not_granted)).status_code == 404
    assert "Chlamydia screen" in page_text(proxy_client.get(LIST))


@pytest.mark.django_db
def test_the_patient_sees_their_own_sensitive_reports(patient, patient_client):
    report = released(patient, test_name="HIV antibody", sensitive_category="hiv")

    assert "HIV antibody" in page_text(patient_client.get(LIST))
    assert patient_client.get(report_url(report)).status_code == 200


# The trend page --------------------------------------------------------------------------------------------


def trend_url(code: str = "HB") -> str:
    return reverse("results:trend", kwargs={"code": code})


@pytest.mark.django_db
def test_the_trend_page_has_a_chart_and_the_same_values_as_a_table(patient, patient_client):
    for day, value, flag in ((1, "120", "N"), (5, "170", "H"), (9, "135", "N")):
        report = released(patient, collected_at=at(2026, 3, day, 9))
        ObservationFactory(report=report, value_text=value, value_numeric=Decimal(value), interpretation=flag)
    unreleased = DiagnosticReportFactory(patient=patient, collected_at=at(2026, 3, 12, 9))
    ObservationFactory(report=unreleased, value_text="99", value_numeric=Decimal("99"))
    withdrawn = released(patient, retracted_at=timezone.now(), collected_at=at(2026, 3, 11, 9))
    ObservationFactory(report=withdrawn, value_text="101", value_numeric=Decimal("101"))

    response = patient_client.get(trend_url())

    assert response.status_code == 200
    html = response.content.decode()
    text = page_text(response)
    assert html.count("<svg") >= 1 and 'role="img"' in html
    assert html.count("careportal-chart__point ") == 3
    assert "Haemoglobin over time" in text
    table = text.split("Haemoglobin results, newest first", 1)[1]
    assert table.index("9 March 2026") < table.index("5 March 2026") < table.index("1 March 2026"), "newest first"
    assert "170 g/L" in text and "↑ Above range" in text
    assert "99" not in text and "101" not in text, "only released, not withdrawn, values"
    event = AccessEvent.objects.filter(object_label="test results over time").get()
    assert event.action == "view" and event.patient == patient


@pytest.mark.django_db
def test_values_given_as_a_limit_are_in_the_table_but_not_on_the_chart(patient, patient_client):
    for day, value, comparator in ((1, "85", ""), (5, "90", ">"), (9, "88", "")):
        report = released(patient, collected_at=at(2026, 3, day, 9))
        ObservationFactory(
            report=report,
            code="GFR",
            name="eGFR",
            value_type="SN",
            value_numeric=Decimal(value),
            value_comparator=comparator,
            value_text=f"{comparator}{value}",
            unit="mL/min/1.73m2",
            reference_range=">60",
            reference_low=Decimal("60"),
            reference_high=None,
            interpretation="",
        )

    response = patient_client.get(trend_url("GFR"))

    html = response.content.decode()
    assert html.count("careportal-chart__point ") == 2
    text = page_text(response)
    assert ">90 mL/min/1.73m²" in text
    assert "1 of these values was reported as more or less than a limit" in text


@pytest.mark.django_db
def test_a_trend_with_only_limit_values_has_a_table_and_no_chart(patient, patient_client):
    report = released(patient)
    ObservationFactory(report=report, value_numeric=Decimal("5"), value_comparator="<", value_text="<5")

    response = patient_client.get(trend_url())

    assert response.status_code == 200
    assert "<svg" not in response.content.decode().split("<main", 1)[1]
    assert "<5 g/L" in page_text(response)


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["NOPE", "COM"])
def test_a_test_with_no_released_numeric_values_has_no_trend(patient, patient_client, code):
    report = released(patient)
    ObservationFactory(report=report, code="COM", value_type="ST", value_numeric=None, value_text="Fine")

    assert patient_client.get(trend_url(code)).status_code == 404
    assert AccessEvent.objects.filter(action="denied", object_id=code).count() == 1


@pytest.mark.django_db
def test_another_patients_values_are_not_in_the_trend(patient, patient_client, other_patient):
    ObservationFactory(report=released(patient), value_text="135", value_numeric=Decimal("135"))
    ObservationFactory(report=released(other_patient), value_text="99", value_numeric=Decimal("99"))

    text = page_text(patient_client.get(trend_url()))

    assert "135 g/L" in text and "99 g/L" not in text


# Audit -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_read_is_audited(patient, patient_client):
    report = released(patient)
    ObservationFactory(report=report)

    patient_client.get(LIST)
    patient_client.get(report_url(report))

    events = list(AccessEvent.objects.order_by("id").values_list("action", "object_label", "patient", "object_id"))
    assert events == [
        ("view", "test results", patient.pk, ""),
        ("view", "test result", patient.pk, str(report.public_id)),
    ]


# Home ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_home_counts_the_results_ready_and_links_to_them(patient, patient_client):
    released(patient)
    released(patient)
    DiagnosticReportFactory(patient=patient)
    released(patient, retracted_at=timezone.now())

    response = patient_client.get("/home/")

    text = page_text(response)
    assert "2 test results are ready to view." in text
    assert f'href="{LIST}"' in response.content.decode()
    assert "Test results" in text


@pytest.mark.django_db
def test_home_keeps_the_empty_state_when_nothing_is_ready(patient, patient_client):
    DiagnosticReportFactory(patient=patient)

    text = page_text(patient_client.get("/home/"))

    assert "You have no test results to show yet." in text
    assert "ready to view" not in text


@pytest.mark.parametrize(
    ("as_sent", "as_read"),
    [
        ("10*9/L", "10⁹/L"),
        ("10*12/L", "10¹²/L"),
        ("umol/L", "µmol/L"),
        ("mL/min/1.73m2", "mL/min/1.73m²"),
        ("g/L", "g/L"),
        ("mmol/L", "mmol/L"),
        ("", ""),
    ],
)
def test_units_are_shown_as_people_write_them(as_sent, as_read):
    from careportal.results.presenters import unit_for_reading

    assert unit_for_reading(as_sent) == as_read
