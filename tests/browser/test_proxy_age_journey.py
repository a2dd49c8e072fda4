"""A parent's access narrows on their child's 16th birthday and ends on the 18th, with the clock frozen at each
moment (issue 13; DESIGN.md, Proxy).

The live server is pytest-django's `live_server`: a thread of this same process, so `time_machine.travel` moves
its clock too (as in test_appointments_journey.py). The access layer re-checks the relationship on every request,
so no job has to run: the day decides. Moving the clock on by months signs everyone out (the 15-minute idle
timeout), so the parent signs in again at each moment.

Every page opened here is checked with axe-core (WCAG 2.2 A and AA) by `portal` (see portal.py).
"""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from careportal.access.proxy_policy import birthday_at_age
from tests.accounts.factories import TEST_PASSWORD, UserFactory
from tests.appointments.factories import AppointmentFactory, ClinicFactory
from tests.browser.portal import PortalPage
from tests.browser.steps import when_they_sign_in
from tests.letters.factories import LetterFactory
from tests.patients.factories import CareTeamFactory, PatientFactory
from tests.proxy.factories import ProxyRelationshipFactory
from tests.results.factories import DiagnosticReportFactory, ObservationFactory

pytestmark = pytest.mark.browser

LONDON = ZoneInfo("Europe/London")
BORN = datetime.date(2011, 3, 10)
SIXTEENTH = birthday_at_age(BORN, 16)  # Wednesday 10 March 2027
EIGHTEENTH = birthday_at_age(BORN, 18)  # Saturday 10 March 2029
# Late evening the day before, and a few minutes after midnight on each birthday: the change happens at midnight.
EVE_OF_SIXTEENTH = datetime.datetime.combine(SIXTEENTH - datetime.timedelta(days=1), datetime.time(23, 50), LONDON)
AT_SIXTEEN = datetime.datetime.combine(SIXTEENTH, datetime.time(0, 10), LONDON)
AT_EIGHTEEN = datetime.datetime.combine(EIGHTEENTH, datetime.time(0, 10), LONDON)
# Booked long ahead, so that it is still to come at every moment of the journey.
APPOINTMENT_AT = datetime.datetime(2029, 4, 19, 10, 30, tzinfo=LONDON)


@pytest.fixture(autouse=True)
def letter_root(settings, tmp_path):
    settings.LETTER_ROOT = tmp_path / "letters"


def given_a_parent_with_a_child_who_has_a_result_a_letter_and_an_appointment(*, parent_has_own_record: bool):
    """Arjun, with a released full blood count, a clinic letter and an upcoming appointment; Priya, his mother,
    verified by the helpdesk with the results, messages, appointments and letters scopes."""
    child = PatientFactory(given_name="Arjun", family_name="Patel", birth_date=BORN)
    team = CareTeamFactory(name="Children's Urology")
    report = DiagnosticReportFactory(patient=child, released=True, test_name="Full blood count")
    ObservationFactory(report=report)
    letter = LetterFactory(patient=child, care_team=team, document_type="Clinic letter")
    appointment = AppointmentFactory(
        patient=child,
        clinic=ClinicFactory(name="Children's urology clinic", care_team=team),
        start=APPOINTMENT_AT,
        service_name="Children's urology follow-up",
    )
    parent = UserFactory(username="priya.patel", first_name="Priya", last_name="Patel")
    if parent_has_own_record:
        PatientFactory(user=parent, given_name="Priya", family_name="Patel", birth_date=datetime.date(1984, 2, 1))
    ProxyRelationshipFactory(
        proxy=parent,
        patient=child,
        relationship="mother",
        basis="parental",
        scopes=["results", "messages", "appointments", "letters"],
        valid_from=BORN,
    )
    return {
        "result": f"/test-results/{report.public_id}/",
        "letter": f"/letters/{letter.public_id}/",
        "letter file": f"/letters/{letter.public_id}/download/",
        "appointment": f"/appointments/{appointment.public_id}/",
    }


def when_the_parent_signs_in(portal: PortalPage) -> None:
    when_they_sign_in(portal, username="priya.patel", password=TEST_PASSWORD)


def when_they_open_arjuns_record(portal: PortalPage) -> None:
    """The parent has a record of their own too, so after signing in she chooses whose to open: Arjun's."""
    page = portal.page
    expect(page.get_by_role("heading", level=1)).to_have_text("Whose record do you want to see?")
    portal.click_and_wait(page.get_by_role("button", name="Arjun Patel (your child)"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Arjun Patel")


def menu_links(portal: PortalPage) -> list[str]:
    return [
        text.strip()
        for text in portal.page.get_by_role("navigation", name="Menu").get_by_role("link").all_inner_texts()
    ]


def then_the_page_is_not_found(portal: PortalPage, path: str) -> None:
    portal.goto(path, status=404)
    expect(portal.page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(portal.page.get_by_role("main")).not_to_contain_text("Arjun")


def test_a_parents_access_narrows_at_sixteen_and_ends_at_eighteen(portal) -> None:
    page = portal.page
    with time_machine.travel(EVE_OF_SIXTEENTH - datetime.timedelta(days=20), tick=False) as clock:
        # Given Arjun, 15, whose mother Priya (a patient here too) acts for him
        addresses = given_a_parent_with_a_child_who_has_a_result_a_letter_and_an_appointment(parent_has_own_record=True)

        # When she signs in late on the evening before his 16th birthday and opens his record
        clock.move_to(EVE_OF_SIXTEENTH)
        when_the_parent_signs_in(portal)
        when_they_open_arjuns_record(portal)

        # Then she sees his results, messages, appointments and letters
        assert menu_links(portal) == ["Home", "Test results", "Messages", "Appointments", "Letters"]
        portal.click_and_wait(page.get_by_role("navigation", name="Menu").get_by_role("link", name="Test results"))
        portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="Full blood count"))
        expect(page.get_by_role("main")).to_contain_text("Haemoglobin")
        portal.click_and_wait(page.get_by_role("navigation", name="Menu").get_by_role("link", name="Letters"))
        portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="Clinic letter"))
        portal.click_and_wait(page.get_by_role("navigation", name="Menu").get_by_role("link", name="Appointments"))
        expect(page.get_by_role("main")).to_contain_text("Thursday 19 April 2029")
        portal.goto(addresses["appointment"])

        # When the clock passes midnight into his 16th birthday and she signs in again
        clock.move_to(AT_SIXTEEN)
        when_the_parent_signs_in(portal)
        when_they_open_arjuns_record(portal)

        # Then only his appointments remain: results, messages and letters are gone from the menu
        assert menu_links(portal) == ["Home", "Appointments"]
        main = page.get_by_role("main")
        expect(main).not_to_contain_text("Test results")
        expect(main).not_to_contain_text("Letters")
        # And their addresses, even typed in, are not found
        for name in ("result", "letter", "letter file"):
            then_the_page_is_not_found(portal, addresses[name])
        then_the_page_is_not_found(portal, "/test-results/")
        then_the_page_is_not_found(portal, "/letters/")
        then_the_page_is_not_found(portal, "/messages/")
        # While his appointment is still there
        portal.goto("/appointments/")
        expect(page.get_by_role("main")).to_contain_text("Thursday 19 April 2029")
        portal.goto(addresses["appointment"])

        # When the clock passes midnight into his 18th birthday and she signs in again
        clock.move_to(AT_EIGHTEEN)
        when_the_parent_signs_in(portal)

        # Then she sees her own record only: there is no one else to switch to
        expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Priya")
        expect(page.get_by_role("link", name="Switch to another person's record")).to_have_count(0)
        # And nothing of Arjun's record is found, appointments included
        for name in ("result", "letter", "letter file", "appointment"):
            then_the_page_is_not_found(portal, addresses[name])
        portal.goto("/appointments/")
        expect(page.get_by_role("main")).not_to_contain_text("19 April 2029")
        portal.goto("/home/whose-record/")
        expect(page.get_by_role("main")).not_to_contain_text("Arjun")


def test_at_eighteen_a_parent_without_a_record_of_their_own_has_no_record_to_show(portal) -> None:
    page = portal.page
    with time_machine.travel(AT_SIXTEEN, tick=False) as clock:
        # Given Priya, who is not a patient here, acts for Arjun, 16
        addresses = given_a_parent_with_a_child_who_has_a_result_a_letter_and_an_appointment(
            parent_has_own_record=False
        )

        # When she signs in on his 16th birthday, his record opens, with his appointments only
        when_the_parent_signs_in(portal)
        expect(page.get_by_role("heading", level=1)).to_have_text("Arjun Patel")
        assert menu_links(portal) == ["Home", "Appointments"]
        portal.goto(addresses["appointment"])

        # When she signs in on his 18th birthday
        clock.move_to(AT_EIGHTEEN)
        when_the_parent_signs_in(portal)

        # Then there is no record to show her
        expect(page.get_by_role("heading", level=1)).to_have_text("There is no record to show")
        expect(page.get_by_role("main")).not_to_contain_text("Arjun")
        # And each of his addresses leads there, showing nothing of his
        for name in ("result", "letter", "appointment"):
            portal.goto(addresses[name])
            expect(page.get_by_role("heading", level=1)).to_have_text("There is no record to show")
            expect(page.get_by_role("main")).not_to_contain_text("Arjun")
