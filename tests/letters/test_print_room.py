"""The print room (/staff/letters/to-post/): who may open it, the daily list, marking letters printed, and the CSV
export: small runs at once, large ones in the background with a progress page; audited as an export."""

import csv
import datetime
import html
import io

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from careportal.audit.models import AccessEvent
from careportal.letters.models import ExportStatus, LetterStatus, PrintExport
from careportal.letters.services import print_export_build, print_list_freeze
from tests.accounts.factories import UserFactory
from tests.letters.factories import LetterFactory
from tests.patients.factories import CareTeamFactory, PatientFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 11, 9)


@pytest.fixture
def print_room_user():
    user = UserFactory(display_name="Pat Printer")
    user.groups.add(Group.objects.get(name="Print room"))
    return user


@pytest.fixture
def print_room_client(print_room_user) -> Client:
    client = Client()
    client.force_login(print_room_user)
    return client


def listed(**kwargs):  # type: ignore[no-untyped-def]
    return LetterFactory(print_listed_on=TODAY, **kwargs)


def test_the_print_room_is_for_its_group_and_superusers_only(
    print_room_client, patient_client, clinician_client, helpdesk_client
):
    url = reverse("letters:to-post")
    superuser = Client()
    superuser.force_login(UserFactory(is_superuser=True))

    assert print_room_client.get(url).status_code == 200
    assert superuser.get(url).status_code == 200
    for refused in (patient_client, clinician_client, helpdesk_client):
        assert refused.get(url).status_code == 404
    assert AccessEvent.objects.filter(action="denied", object_label="the print room").count() == 3


def test_the_staff_home_links_to_the_print_room(print_room_client):
    text = print_room_client.get(reverse("staff:home")).content.decode()

    assert reverse("letters:to-post") in text
    assert "print room staff" in text


def test_the_daily_job_puts_waiting_post_letters_on_todays_list():
    waiting = LetterFactory()
    paperless = LetterFactory(delivery="portal")
    withdrawn = LetterFactory(status=LetterStatus.ENTERED_IN_ERROR)
    already = LetterFactory(print_listed_on=datetime.date(2026, 11, 6))

    with time_machine.travel(datetime.datetime(2026, 11, 9, 7, 0, tzinfo=datetime.UTC)):
        assert print_list_freeze() == 1
        assert print_list_freeze() == 0, "run again, it adds nothing"

    for letter, day in ((waiting, TODAY), (paperless, None), (withdrawn, None), (already, datetime.date(2026, 11, 6))):
        letter.refresh_from_db()
        assert letter.print_listed_on == day


def test_the_list_shows_who_to_post_what_and_audits_the_names_shown(print_room_client):
    patient = PatientFactory(
        given_name="Siobhán", family_name="O'Sullivan", address_line_1="4 Mill Lane", postcode="N8 7QE"
    )
    listed(patient=patient, care_team=CareTeamFactory(name="Dermatology"))
    LetterFactory()  # arrived after today's list

    response = print_room_client.get(reverse("letters:to-post"))

    text = html.unescape(response.content.decode())
    assert "Siobhán O'Sullivan" in text and "4 Mill Lane" in text and "N8 7QE" in text
    assert "Clinic letter, Dermatology" in text
    assert "1 letter arrived since today's list was made" in text
    assert AccessEvent.objects.filter(patient=patient, action="view").count() == 1


def test_adding_the_late_letters_to_todays_list(print_room_client):
    late = LetterFactory()

    response = print_room_client.post(reverse("letters:make-list"))

    assert response.status_code == 302
    late.refresh_from_db()
    assert late.print_listed_on is not None


def test_marking_a_letter_printed_takes_it_off_the_list(print_room_client, print_room_user):
    letter = listed()

    response = print_room_client.post(reverse("letters:letter-printed", kwargs={"letter_id": letter.public_id}))

    assert response.status_code == 302
    letter.refresh_from_db()
    assert letter.printed_by == print_room_user and letter.printed_at is not None
    assert "Nothing to post" in print_room_client.get(reverse("letters:to-post")).content.decode()
    assert AccessEvent.objects.filter(patient=letter.patient, action="update").count() == 1


def test_marking_a_letter_printed_twice_changes_nothing(print_room_client):
    letter = listed()
    url = reverse("letters:letter-printed", kwargs={"letter_id": letter.public_id})
    print_room_client.post(url)
    first = type(letter).objects.get(pk=letter.pk).printed_at

    response = print_room_client.post(url, follow=True)

    assert "already marked as printed" in response.content.decode()
    assert type(letter).objects.get(pk=letter.pk).printed_at == first


def test_a_paperless_letter_cannot_be_marked_printed(print_room_client):
    letter = LetterFactory(delivery="portal")

    response = print_room_client.post(reverse("letters:letter-printed", kwargs={"letter_id": letter.public_id}))

    assert response.status_code == 404


def test_the_list_page_query_count_does_not_grow_with_the_letters(print_room_client, django_assert_max_num_queries):
    listed(care_team=CareTeamFactory())
    with django_assert_max_num_queries(60) as one:
        print_room_client.get(reverse("letters:to-post"))
    for _ in range(20):
        listed(care_team=CareTeamFactory())

    with django_assert_max_num_queries(len(one.captured_queries)):
        print_room_client.get(reverse("letters:to-post"))


def _csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def test_a_small_export_is_made_at_once_with_the_posting_details(
    print_room_client, print_room_user, django_capture_on_commit_callbacks
):
    patient = PatientFactory(
        given_name="=HYPERLINK(1)", family_name="Test", address_line_1="1 High St", postcode="N1 1AA"
    )
    letter = listed(patient=patient, care_team=CareTeamFactory(name="Haematology"), page_count=2)

    with django_capture_on_commit_callbacks(execute=True):
        response = print_room_client.post(reverse("letters:export-start"))
    export = PrintExport.objects.get()
    assert response.url == reverse("letters:export", kwargs={"export_id": export.public_id})
    assert str(patient.public_id) not in response.url and patient.hospital_number not in response.url
    assert export.status == ExportStatus.READY

    page = print_room_client.get(response.url).content.decode()
    assert "Download the list (CSV, 1 letter)" in page
    download = print_room_client.get(reverse("letters:export-download", kwargs={"export_id": export.public_id}))
    rows = _csv(download)
    assert rows[0] == [
        "Name", "Address line 1", "Address line 2", "Town", "Postcode", "Hospital number", "Letter id",
        "Letter date", "Type", "Team", "Pages",
    ]  # fmt: skip
    assert rows[1][0] == "'=HYPERLINK(1) Test", "a spreadsheet must not run a name as a formula"
    assert rows[1][1:] == [
        "1 High St", "", "London", "N1 1AA", patient.hospital_number, str(letter.public_id),
        f"{letter.letter_date:%Y-%m-%d}", "Clinic letter", "Haematology", "2",
    ]  # fmt: skip
    assert download["Content-Disposition"].startswith('attachment; filename="letters-to-post-')
    # Audited as an export when made, and again when downloaded
    assert AccessEvent.objects.filter(patient=patient, action="download").count() == 2


def test_marking_an_export_printed_needs_confirmation_and_marks_only_its_letters(print_room_client):
    exported = listed()
    print_room_client.post(reverse("letters:export-start"))
    export = PrintExport.objects.get()
    later = listed()
    url = reverse("letters:export-printed", kwargs={"export_id": export.public_id})

    refused = print_room_client.post(url, {})
    assert refused.status_code == 400
    assert "Confirm that you have printed every letter in this list" in refused.content.decode()

    assert print_room_client.post(url, {"confirm": "on"}).status_code == 302
    exported.refresh_from_db()
    later.refresh_from_db()
    assert exported.printed_at is not None
    assert later.printed_at is None


def test_a_large_export_runs_in_the_background_with_a_progress_page(
    print_room_client, settings, django_capture_on_commit_callbacks
):
    settings.LETTER_EXPORT_BACKGROUND_OVER = 2
    for _ in range(3):
        listed()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = print_room_client.post(reverse("letters:export-start"))
    export = PrintExport.objects.get()
    assert export.status == ExportStatus.WAITING and export.total == 3

    # Before the task has run: a progress bar, refreshing itself without JavaScript, polled by htmx with it
    page = print_room_client.get(response.url).content.decode()
    assert '<progress id="export-progress-bar"' in page and 'max="3" value="0"' in page
    assert "0 of 3 letters added" in page
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert 'hx-trigger="every 2s"' in page
    partial = print_room_client.get(response.url, HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<div id="export-progress"')

    # The task runs (the worker picks it up after commit)
    for callback in callbacks:
        callback()
    export.refresh_from_db()
    assert (export.status, export.done) == (ExportStatus.READY, 3)
    finished = print_room_client.get(response.url, HTTP_HX_REQUEST="true")
    assert finished["HX-Refresh"] == "true"
    assert "Download the list (CSV, 3 letters)" in print_room_client.get(response.url).content.decode()


def test_a_download_before_the_export_is_ready_goes_back_to_its_page(print_room_client, settings):
    settings.LETTER_EXPORT_BACKGROUND_OVER = 0
    listed()
    response = print_room_client.post(reverse("letters:export-start"))
    export = PrintExport.objects.get()
    assert export.status == ExportStatus.WAITING

    download = print_room_client.get(reverse("letters:export-download", kwargs={"export_id": export.public_id}))

    assert download.status_code == 302 and download.url == response.url


def test_a_large_export_is_built_in_batches_with_bounded_queries(
    print_room_user, settings, django_assert_max_num_queries, monkeypatch
):
    from careportal.letters import services

    monkeypatch.setattr(services, "EXPORT_BATCH_SIZE", 10)
    letters = [listed(patient=PatientFactory()) for _ in range(35)]
    export = PrintExport.objects.create(requested_by=print_room_user, requested_at=letters[0].arrived_at, total=35)
    export.letters.set(letters)
    progress: list[int] = []
    real_rows = services.export_rows

    def counting_rows(export, *, batch_size):  # type: ignore[no-untyped-def]
        for batch in real_rows(export, batch_size=batch_size):
            progress.append(PrintExport.objects.get(pk=export.pk).done)
            yield batch

    monkeypatch.setattr(services, "export_rows", counting_rows)

    # 4 batches of at most 10: a query for the batch, one for its audit events, one for the progress count each
    with django_assert_max_num_queries(4 * 3 + 8):
        assert print_export_build(export_id=export.pk) == ExportStatus.READY

    assert progress == [0, 10, 20, 30], "progress is counted batch by batch"
    export.refresh_from_db()
    assert (export.done, export.total) == (35, 35)
    assert AccessEvent.objects.filter(action="download").count() == 35


def test_building_an_export_twice_does_it_once(print_room_user):
    letter = listed()
    export = PrintExport.objects.create(requested_by=print_room_user, requested_at=letter.arrived_at, total=1)
    export.letters.add(letter)

    print_export_build(export_id=export.pk)
    print_export_build(export_id=export.pk)

    assert AccessEvent.objects.filter(action="download").count() == 1


@pytest.mark.parametrize("client_name", ["clinician_client", "helpdesk_client"])
def test_staff_outside_the_print_room_get_404_for_an_export(client_name, request, print_room_user):
    export = PrintExport.objects.create(requested_by=print_room_user, requested_at=datetime.datetime.now(datetime.UTC))
    client = request.getfixturevalue(client_name)

    assert client.get(reverse("letters:export", kwargs={"export_id": export.public_id})).status_code == 404


def test_old_exports_and_their_files_are_deleted(print_room_user):
    from careportal.letters.services import print_exports_expire
    from careportal.letters.storage import export_file_name, letter_storage

    letter = listed()
    export = PrintExport.objects.create(requested_by=print_room_user, requested_at=letter.arrived_at, total=1)
    export.letters.add(letter)
    print_export_build(export_id=export.pk)
    export.refresh_from_db()
    name = export_file_name(export.stored_name)
    assert letter_storage().exists(name)

    with time_machine.travel(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=8)):
        assert print_exports_expire() == 1

    assert not letter_storage().exists(name)
    assert not PrintExport.objects.exists()


def test_an_export_whose_worker_stopped_is_marked_failed_by_housekeeping(print_room_client, print_room_user):
    from careportal.letters.tasks import letters_housekeeping

    asked = datetime.datetime.now(datetime.UTC)
    export = PrintExport.objects.create(
        requested_by=print_room_user, requested_at=asked, status=ExportStatus.RUNNING, total=900, done=500
    )

    with time_machine.travel(asked + datetime.timedelta(minutes=30)):
        assert letters_housekeeping.call()["exports_failed"] == 0
    with time_machine.travel(asked + datetime.timedelta(hours=2)):
        assert letters_housekeeping.call()["exports_failed"] == 1

    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED
    page = print_room_client.get(reverse("letters:export", kwargs={"export_id": export.public_id}))
    assert "The export could not be made" in page.content.decode()
