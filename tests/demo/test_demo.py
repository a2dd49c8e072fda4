import datetime

import pytest
from oauth2_provider.models import Application

from careportal.accounts.models import User
from careportal.demo.data import DEMO_PASSWORD
from careportal.demo.services import demo_trust_load
from careportal.patients.models import Patient
from careportal.proxy.models import ProxyEventKind, ProxyOrigin, ProxyRelationship, ProxyStatus

pytestmark = pytest.mark.django_db


def test_the_demo_trust_loads_once_and_a_second_run_changes_nothing():
    first = demo_trust_load()
    counts = (User.objects.count(), Patient.objects.count(), ProxyRelationship.objects.count())
    second = demo_trust_load()
    assert first["patients"] == 3 and first["users"] == 6
    assert second == {"care_teams": 0, "patients": 0, "users": 0}
    assert (User.objects.count(), Patient.objects.count(), ProxyRelationship.objects.count()) == counts


def test_the_demo_patient_is_the_fbc_sample_patient_and_can_sign_in(client):
    demo_trust_load()
    patient = Patient.objects.get(user__username="demo.patient")
    assert (patient.hospital_number, patient.nhs_number) == ("40012345", "9990000018")
    response = client.post("/sign-in/", {"login": "demo.patient", "password": DEMO_PASSWORD})
    assert response["Location"] == "/home/"


def test_every_demo_nhs_number_passes_modulus_11():
    demo_trust_load()
    for patient in Patient.objects.all():
        patient.full_clean()


def test_the_demo_parent_acts_for_a_child():
    demo_trust_load()
    relationship = ProxyRelationship.objects.get(proxy__username="demo.parent")
    assert relationship.basis == "parental"
    assert relationship.patient.birth_date.year == 2015


def test_the_demo_app_is_not_installed_in_production():
    import subprocess
    import sys

    code = "import django; django.setup(); from django.apps import apps; print(apps.is_installed('careportal.demo'))"
    env = {
        "CAREPORTAL_ENV": "production",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "portal.example.nhs.uk",
        "DATABASE_URL": "sqlite:///:memory:",
        "DJANGO_SETTINGS_MODULE": "careportal.config.settings.base",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_demo_results_arrive_through_the_hl7_interface_once_and_the_due_ones_are_released(
    django_capture_on_commit_callbacks,
):
    from careportal.demo.results import demo_results_load
    from careportal.results.models import DiagnosticReport

    demo_trust_load()
    with django_capture_on_commit_callbacks(execute=True):
        first = demo_results_load()
    second = demo_results_load()

    eleanor = DiagnosticReport.objects.filter(patient__hospital_number="40012345")
    # Five earlier full blood counts, the sample one, and the U&E (final, then corrected: one report, amended).
    assert eleanor.count() == 7
    assert eleanor.get(test_code="UE").is_amended
    assert eleanor.filter(released_at__isnull=False).count() == 7
    histology = DiagnosticReport.objects.get(test_code="HISTO")
    assert histology.released_at is None, "histology waits for a clinician"
    urine = DiagnosticReport.objects.get(test_code="MSU")
    assert urine.status == "final" and urine.released_at is not None
    assert first == {"applied": 11, "released": 8}
    assert second == {"applied": 0, "released": 0}


def test_the_demo_message_thread_has_a_reply_waiting_for_eleanor_and_loads_once(client):
    from careportal.demo.messages import DEMO_SUBJECT, demo_messages_load
    from careportal.messaging.models import Thread, ThreadStatus

    demo_trust_load()
    first = demo_messages_load()
    second = demo_messages_load()

    assert first == {"threads": 1, "messages": 2}
    assert second == {"threads": 0, "messages": 0}
    thread = Thread.objects.get()
    assert (thread.patient.user.username, thread.care_team.name, thread.subject) == (
        "demo.patient",
        "Haematology",
        DEMO_SUBJECT,
    )
    assert thread.status == ThreadStatus.WAITING_ON_PATIENT
    authors = list(thread.messages.order_by("created_at", "pk").values_list("author_display", flat=True))
    assert authors == ["Eleanor Hargreaves", "Dr C Okafor, Haematology"]

    # Eleanor sees the conversation, unread, in her messages
    client.post("/sign-in/", {"login": "demo.patient", "password": DEMO_PASSWORD})
    page = client.get("/messages/").content.decode()
    assert DEMO_SUBJECT in page
    assert "Unread" in page


def test_load_demo_loads_the_message_thread_after_the_results():
    from io import StringIO

    from django.core.management import call_command

    from careportal.messaging.models import Thread

    out = StringIO()
    call_command("load_demo", stdout=out)
    call_command("load_demo", stdout=out)
    assert "Demo messages: a conversation between demo.patient and Haematology" in out.getvalue()
    assert "Demo messages already loaded; nothing changed." in out.getvalue()
    assert Thread.objects.count() == 1


def test_the_demo_integration_administrator_needs_the_emailed_code_and_reaches_the_hl7_pages(client):
    from django.test import Client

    from careportal.hl7.models import InboundInterface

    demo_trust_load()
    integration = User.objects.get(username="demo.integration")
    assert integration.groups.filter(name="Integration administrators").exists()
    response = client.post("/sign-in/", {"login": "demo.integration", "password": DEMO_PASSWORD})
    assert response.status_code == 302 and response["Location"] not in ("/home/", "/staff/")
    assert "code" in response["Location"]

    signed_in = Client()
    signed_in.force_login(integration)
    assert "/staff/hl7/interfaces/" in signed_in.get("/staff/").content.decode()
    assert signed_in.get("/staff/hl7/interfaces/").status_code == 200
    assert signed_in.get("/staff/hl7/unmatched/").status_code == 200
    senders = set(InboundInterface.objects.values_list("sending_application", "sending_facility"))
    assert {("WINPATH", "RRV_LAB"), ("COPATH", "RRV_PATH"), ("PAS", "RRV"), ("EDM", "RRV")} <= senders
    assert all(i.source_networks == ["127.0.0.1/32", "::1/128"] for i in InboundInterface.objects.all())


def test_demo_results_are_released_when_each_fell_due_not_all_on_the_day_of_loading(
    django_capture_on_commit_callbacks,
):
    import datetime

    from django.utils import timezone

    from careportal.demo.results import demo_results_load
    from careportal.results.models import DiagnosticReport, ReportAction

    demo_trust_load()
    with django_capture_on_commit_callbacks(execute=True):
        demo_results_load()

    released = DiagnosticReport.objects.filter(released_at__isnull=False).order_by("collected_at")
    days = {timezone.localdate(report.released_at) for report in released}
    assert len(days) >= 6, "a year of results is not all released on one day"
    for report in released:
        # Released by the job at 07:00 on a working day after the lab reported it, as the rule says.
        assert report.released_at == report.release_due_at
        assert report.released_at > report.reported_at
        local = timezone.localtime(report.released_at)
        assert local.weekday() < 5 and (local.hour, local.minute) == (7, 0)
        assert local.date() - timezone.localtime(report.reported_at).date() <= datetime.timedelta(days=4)
        action = ReportAction.objects.get(report=report, kind="auto_released")
        assert action.at == report.released_at
    earlier = released.filter(filler_order_number__startswith="26HDEMO")
    assert earlier.count() == 5
    assert all(r.released_at < timezone.now() - datetime.timedelta(days=30) for r in earlier)


def test_the_earlier_demo_blood_counts_were_taken_on_working_days():
    from careportal.core.working_days import bank_holidays, is_working_day
    from careportal.demo.results import SAMPLE_FBC_TAKEN, _earlier_fbc_messages

    closed = bank_holidays()
    for raw in _earlier_fbc_messages(SAMPLE_FBC_TAKEN):
        obr = next(line for line in raw.decode().split("\r") if line.startswith("OBR"))
        stamp = obr.split("|")[7]
        taken = datetime.date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:8]))
        assert is_working_day(taken, holidays=closed), taken


def test_the_demo_letters_arrive_through_the_hl7_interface_once(settings, tmp_path, client):
    from django.test import Client

    from careportal.demo.letters import demo_letters_load
    from careportal.letters.models import Letter

    settings.LETTER_ROOT = tmp_path / "letters"
    demo_trust_load()

    assert demo_letters_load() == {"applied": 2, "listed": 1}
    assert demo_letters_load() == {"applied": 0, "listed": 0}

    eleanor = Letter.objects.get(patient__hospital_number="40012345")
    assert (eleanor.delivery, eleanor.care_team.name, eleanor.print_listed_on) == ("portal", "Haematology", None)
    siobhan = Letter.objects.get(patient__hospital_number="40077801")
    assert (siobhan.delivery, siobhan.care_team.name) == ("post", "Dermatology")
    assert siobhan.print_listed_on is not None
    # The helpdesk works the print room in the demo, and finds Siobhán's letter there
    print_room = Client()
    print_room.force_login(User.objects.get(username="demo.helpdesk"))
    assert "4 Mill Lane" in print_room.get("/staff/letters/to-post/").content.decode()


def test_the_demo_has_a_proxy_with_its_history_and_an_application_for_the_helpdesk() -> None:
    demo_trust_load()

    parent = ProxyRelationship.objects.get(proxy__username="demo.parent")
    assert parent.status == ProxyStatus.ACTIVE and parent.identity_evidence and parent.relationship_evidence
    assert [e.kind for e in parent.events.all()] == [ProxyEventKind.SET_UP_BY_STAFF]
    application = ProxyRelationship.objects.get(proxy__username="demo.carer")
    assert (application.status, application.origin) == (ProxyStatus.REQUESTED, ProxyOrigin.APPLICATION)
    assert [e.kind for e in application.events.all()] == [ProxyEventKind.APPLIED]


def test_the_demo_registers_a_public_smart_app_once() -> None:
    demo_trust_load()
    demo_trust_load()

    app = Application.objects.get(client_id="careportal-demo-app")
    assert app.client_type == Application.CLIENT_PUBLIC
    assert app.redirect_uris == "http://127.0.0.1:8765/callback"
