"""Every URL that takes an object id, with how to build that URL for an object that belongs to another patient.

tests/access/test_object_urls.py walks the URL configuration: a new URL with a parameter and no entry here fails
the suite, so no object URL ships without its "another patient's object returns 404" test.

Each entry: url name -> (HTTP method, function(other_patient) -> URL kwargs).
"""

from collections.abc import Callable
from typing import Any

ObjectUrlCase = tuple[str, Callable[[Any], dict[str, Any]]]


def _app_connection_of(other: Any) -> dict[str, Any]:
    from tests.fhir.factories import AppConnectionFactory

    return {"connection_id": AppConnectionFactory(user=other.user, patient=other).public_id}


def _support_request_of(other: Any) -> dict[str, Any]:
    from tests.helpdesk.factories import SupportRequestFactory

    return {"request_id": SupportRequestFactory(user=other.user).public_id}


def _failed_notification_of(other: Any) -> dict[str, Any]:
    from tests.helpdesk.factories import FailedNotificationFactory

    return {"notification_id": FailedNotificationFactory(user=other.user).public_id}


def _inbox_report_of(other: Any) -> dict[str, Any]:
    from tests.patients.factories import CareTeamFactory
    from tests.results.factories import DiagnosticReportFactory

    return {"report_id": DiagnosticReportFactory(patient=other, care_team=CareTeamFactory()).public_id}


def _inbox_thread_of(other: Any) -> dict[str, Any]:
    from tests.messaging.factories import MessageFactory, ThreadFactory
    from tests.patients.factories import CareTeamFactory

    return {
        "thread_id": MessageFactory(thread=ThreadFactory(patient=other, care_team=CareTeamFactory())).thread.public_id
    }


def _inbox_attachment_of(other: Any) -> dict[str, Any]:
    import uuid

    from django.utils import timezone

    from careportal.messaging.models import Attachment
    from tests.messaging.factories import MessageFactory, ThreadFactory
    from tests.patients.factories import CareTeamFactory

    # The row is enough: the request is refused before any file is opened.
    message = MessageFactory(thread=ThreadFactory(patient=other, care_team=CareTeamFactory()))
    attachment = Attachment.objects.create(
        message=message,
        stored_name=uuid.uuid4().hex,
        display_name="scan.png",
        content_type="image/png",
        size=10,
        sha256="0" * 64,
        scan_status="clean",
        created_at=timezone.now(),
    )
    return {"thread_id": message.thread.public_id, "attachment_id": attachment.public_id}


def _record_export_of(other: Any) -> dict[str, Any]:
    from tests.fhir.export_factories import RecordExportFactory

    # The row is enough: the request is refused before any file is opened.
    return {"public_id": RecordExportFactory(patient=other, requested_by=other.user, status="ready").public_id}


def _proxy_relationship_of(other: Any) -> dict[str, Any]:
    from tests.proxy.factories import ProxyRelationshipFactory

    return {"relationship_id": ProxyRelationshipFactory(patient=other, basis="granted").public_id}


def _proxy_invitation_of(other: Any) -> dict[str, Any]:
    import datetime
    import uuid

    from django.utils import timezone

    from careportal.proxy.models import ProxyInvitation

    invitation = ProxyInvitation.objects.create(
        patient=other,
        invited_by=other.user,
        email=f"{uuid.uuid4().hex}@example.org",
        relationship="friend",
        scopes=["letters"],
        token_digest=uuid.uuid4().hex,
        expires_at=timezone.now() + datetime.timedelta(days=1),
    )
    return {"invitation_id": invitation.public_id}


def _hl7_message_naming(other: Any) -> dict[str, Any]:
    from django.utils import timezone

    from careportal.hl7.models import InboundMessage

    message = InboundMessage.objects.create(
        received_at=timezone.now(),
        raw=b"MSH|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|20261102093015||ORU^R01|OBJ1|P|2.4",
        message_type="ORU^R01",
        status="error",
        patient=other,
    )
    return {"message_id": message.public_id}


def _outbound_message_for(other: Any) -> dict[str, Any]:
    from careportal.hl7.outbound import adt_a31_queue

    return {"message_id": adt_a31_queue(patient=other).public_id}


def _released_report_of(other: Any) -> dict[str, Any]:
    from tests.results.factories import DiagnosticReportFactory

    return {"public_id": DiagnosticReportFactory(patient=other, released=True).public_id}


def _attachment_of(other: Any) -> dict[str, Any]:
    from tests.results.factories import DiagnosticReportFactory, ObservationFactory

    # The file's name is enough: the request is refused before any file is opened.
    observation = ObservationFactory(
        report=DiagnosticReportFactory(patient=other, released=True),
        value_type="ED",
        value_numeric=None,
        attachment="results/attachments/report.pdf",
    )
    return {"public_id": observation.report.public_id, "sequence": observation.sequence}


def _trend_of(other: Any) -> dict[str, Any]:
    # A test only the other patient has: its code is not patient data, but its values are.
    from tests.results.factories import DiagnosticReportFactory, ObservationFactory

    ObservationFactory(report=DiagnosticReportFactory(patient=other, released=True), code="OTHERONLY")
    return {"code": "OTHERONLY"}


def _message_thread_of(other: Any) -> dict[str, Any]:
    from tests.messaging.factories import MessageFactory, ThreadFactory

    return {"public_id": MessageFactory(thread=ThreadFactory(patient=other)).thread.public_id}


def _message_attachment_of(other: Any) -> dict[str, Any]:
    import uuid

    from django.utils import timezone

    from careportal.messaging.models import Attachment
    from tests.messaging.factories import MessageFactory, ThreadFactory

    # The row is enough: the request is refused before any file is opened.
    message = MessageFactory(thread=ThreadFactory(patient=other))
    attachment = Attachment.objects.create(
        message=message,
        stored_name=uuid.uuid4().hex,
        display_name="scan.png",
        content_type="image/png",
        size=10,
        sha256="0" * 64,
        scan_status="clean",
        created_at=timezone.now(),
    )
    return {"public_id": message.thread.public_id, "attachment_id": attachment.public_id}


def _appointment_of(other: Any) -> dict[str, Any]:
    from tests.appointments.factories import AppointmentFactory

    return {"public_id": AppointmentFactory(patient=other, kind="video").public_id}


def _letter_of(other: Any) -> dict[str, Any]:
    from tests.letters.factories import LetterFactory

    # The row is enough: the request is refused before any file is opened.
    return {"public_id": LetterFactory(patient=other, stored=False).public_id}


def _letter_to_post_of(other: Any) -> dict[str, Any]:
    from tests.letters.factories import LetterFactory

    return {"letter_id": LetterFactory(patient=other, stored=False).public_id}


def _print_export_naming(other: Any) -> dict[str, Any]:
    from django.utils import timezone

    from careportal.letters.models import PrintExport
    from tests.accounts.factories import UserFactory
    from tests.letters.factories import LetterFactory

    export = PrintExport.objects.create(requested_by=UserFactory(), requested_at=timezone.now(), total=1)
    export.letters.add(LetterFactory(patient=other, stored=False))
    return {"export_id": export.public_id}


def _proxy_application_for(other: Any) -> dict[str, Any]:
    from tests.proxy.factories import ProxyRelationshipFactory

    return {
        "relationship_id": ProxyRelationshipFactory(patient=other, status="requested", origin="application").public_id
    }


def _proxy_relationship_for(other: Any) -> dict[str, Any]:
    from tests.proxy.factories import ProxyRelationshipFactory

    return {"relationship_id": ProxyRelationshipFactory(patient=other).public_id}


def _application_by_someone_for(other: Any) -> dict[str, Any]:
    from tests.proxy.factories import ProxyRelationshipFactory

    return {
        "application_id": ProxyRelationshipFactory(patient=other, status="requested", origin="application").public_id
    }


OBJECT_URLS: dict[str, ObjectUrlCase] = {
    "home:act-for": ("post", lambda other: {"patient_id": other.public_id}),
    # Connected apps (SMART on FHIR): another person's connection, to look at or disconnect.
    "fhir:disconnect": ("get", _app_connection_of),
    # The helpdesk console: the other patient's account, record, requests for help and emails are refused to
    # anyone but the helpdesk (an audited 404). tests/helpdesk/test_access.py adds the staff side: clinicians get
    # 404 on every helpdesk URL, and the helpdesk gets 404 for ids that do not exist.
    "helpdesk:account": ("get", lambda other: {"account_id": other.user.public_id}),
    "helpdesk:account-unlock": ("post", lambda other: {"account_id": other.user.public_id}),
    "helpdesk:account-reset-two-step": ("post", lambda other: {"account_id": other.user.public_id}),
    "helpdesk:patient": ("get", lambda other: {"patient_id": other.public_id}),
    "helpdesk:patient-activation-code": ("post", lambda other: {"patient_id": other.public_id}),
    "helpdesk:request": ("get", _support_request_of),
    "helpdesk:request-assign": ("post", _support_request_of),
    "helpdesk:request-reply": ("post", _support_request_of),
    "helpdesk:request-close": ("post", _support_request_of),
    "helpdesk:notification-retry": ("post", _failed_notification_of),
    # Proxy access in the helpdesk console (tests/helpdesk/test_proxy_*.py adds the helpdesk's own side).
    "helpdesk:proxy-request": ("get", _proxy_application_for),
    "helpdesk:proxy-relationship": ("get", _proxy_relationship_for),
    "helpdesk:proxy-relationship-sensitive": ("post", _proxy_relationship_for),
    "helpdesk:proxy-relationship-end": ("post", _proxy_relationship_for),
    "helpdesk:patient-proxy-new": ("post", lambda other: {"patient_id": other.public_id}),
    # An application to act for someone: only the applicant may open its page (tests/proxy/test_applications.py).
    "proxy:application": ("get", _application_by_someone_for),
    # The clinicians' results inbox: only members of the report's care team may open a report or act on it;
    # tests/results/test_inbox.py adds the staff side (another team's clinician, the helpdesk get 404).
    "results:inbox-report": ("get", _inbox_report_of),
    "results:inbox-report-review": ("post", _inbox_report_of),
    "results:inbox-report-comment": ("post", _inbox_report_of),
    "results:inbox-report-release": ("post", _inbox_report_of),
    "results:inbox-report-hold": ("post", _inbox_report_of),
    "results:inbox-report-unhold": ("post", _inbox_report_of),
    "results:inbox-report-retract": ("post", _inbox_report_of),
    # The care teams' message inbox: only members of the thread's care team may open a thread, its files, or act
    # on it; tests/messaging/test_inbox.py adds the staff side (another team's clinician, the helpdesk get 404).
    "messaging:inbox-thread": ("get", _inbox_thread_of),
    "messaging:inbox-thread-reply": ("post", _inbox_thread_of),
    "messaging:inbox-thread-note": ("post", _inbox_thread_of),
    "messaging:inbox-thread-assign": ("post", _inbox_thread_of),
    "messaging:inbox-thread-close": ("post", _inbox_thread_of),
    "messaging:inbox-thread-reopen": ("post", _inbox_thread_of),
    "messaging:inbox-thread-correction": ("post", _inbox_thread_of),
    "messaging:inbox-attachment": ("get", _inbox_attachment_of),
    # HL7 messages carry clinical data: only superusers and holders of hl7.change_inboundmessage may open one;
    # tests/hl7/test_unmatched_queue.py adds the staff side (clinicians and the helpdesk get 404).
    "hl7:message": ("get", _hl7_message_naming),
    "hl7:message-match": ("post", _hl7_message_naming),
    "hl7:message-match-confirm": ("post", _hl7_message_naming),
    "hl7:message-dismiss": ("post", _hl7_message_naming),
    # Messages sent to the PAS name a patient: only HL7 operators may retry one (tests/hl7/test_outbound.py).
    "hl7:outbound-retry": ("post", _outbound_message_for),
    # The patient's own results pages (tests/results/test_patient_pages.py adds proxies and sensitive categories).
    "results:report": ("get", _released_report_of),
    "results:comments": ("get", _released_report_of),
    "results:attachment": ("get", _attachment_of),
    "results:trend": ("get", _trend_of),
    # The patient's own messages pages (tests/messaging/test_patient_pages.py adds proxies and replies).
    "messaging:thread": ("get", _message_thread_of),
    "messaging:sent": ("get", _message_thread_of),
    "messaging:attachment": ("get", _message_attachment_of),
    # The patient's own appointments pages (tests/appointments/test_patient_pages.py adds proxies without the
    # appointments scope, and appointments the patient never saw booked; tests/appointments/test_sensitive.py
    # proxies without the grant of a sensitive clinic's category).
    "appointments:detail": ("get", _appointment_of),
    "appointments:calendar": ("get", _appointment_of),
    "appointments:join": ("get", _appointment_of),
    "appointments:change": ("get", _appointment_of),
    # A copy of the record asked for by this person (tests/fhir/test_export.py adds a copy the patient's proxy asked
    # for, and a proxy whose scopes narrowed since).
    "export:detail": ("get", _record_export_of),
    "export:download-json": ("get", _record_export_of),
    "export:download-pdf": ("get", _record_export_of),
    # The patient's own letters (tests/letters/test_patient_pages.py adds proxies without the letters scope;
    # tests/letters/test_sensitive.py proxies without the grant of a sensitive team's category).
    "letters:letter": ("get", _letter_of),
    "letters:view": ("get", _letter_of),
    "letters:download": ("get", _letter_of),
    # The print room: only the Print room group and superusers; tests/letters/test_print_room.py adds the staff
    # side (clinicians and the helpdesk get 404).
    "letters:letter-printed": ("post", _letter_to_post_of),
    "letters:export": ("get", _print_export_naming),
    "letters:export-download": ("get", _print_export_naming),
    "letters:export-printed": ("post", _print_export_naming),
    # Who can act for a patient is the patient's own (tests/proxy/test_relationships.py adds proxies acting for the
    # patient, children under 16 and the proxy's own "stop" page).
    "proxy:relationship": ("get", _proxy_relationship_of),
    "proxy:revoke": ("post", _proxy_relationship_of),
    "proxy:stop": ("post", _proxy_relationship_of),
    "proxy:invitation-cancel": ("post", _proxy_invitation_of),
}

# URLs with parameters that are not about a patient's objects, and why.
NOT_PATIENT_OBJECT_URLS: dict[str, str] = {
    "patients:email-confirm": "a single-use token emailed to a new address, not an object id: an unknown, used, "
    "expired or cancelled token, or one opened while signed in as someone else, changes nothing and says so "
    "(tests/patients/test_email_change.py)",
    "proxy:invitation-link": "a single-use token emailed to an invitee, not an object id: an unknown, used, expired or "
    "cancelled token, or one opened by the wrong account, changes nothing and says so (tests/proxy/"
    "test_invitations.py)",
    "accounts:session-end": "a person's own sign-in session, not patient data: another person's session id gets 404 "
    "(tests/accounts/test_sessions.py)",
    "accounts:forget-trusted-device": "a person's own trusted browser, not patient data: another person's device id "
    "gets 404 (tests/accounts/test_trusted_devices.py)",
    "results:rule-edit": "a trust-wide release rule, not patient data: only those who manage release rules may open "
    "it, everyone else gets 404 (tests/results/test_rule_pages.py)",
    "results:rule-delete": "a trust-wide release rule, not patient data: only those who manage release rules may "
    "delete it, everyone else gets 404 (tests/results/test_rule_pages.py)",
    "results:bank-holiday-delete": "a trust-wide bank holiday, not patient data: only those who manage release rules "
    "may remove it, everyone else gets 404 (tests/results/test_rule_pages.py)",
    "hl7:interface-edit": "a trust-wide HL7 inbound interface, not patient data: only integration administrators may "
    "open it, everyone else gets 404 (tests/hl7/test_interface_pages.py)",
    "hl7:interface-deactivate": "a trust-wide HL7 inbound interface, not patient data: only integration "
    "administrators may deactivate it, everyone else gets 404 (tests/hl7/test_interface_pages.py)",
    "hl7:interface-reactivate": "a trust-wide HL7 inbound interface, not patient data: only integration "
    "administrators may reactivate it, everyone else gets 404 (tests/hl7/test_interface_pages.py)",
}

# Whole namespaces left out, and why.
EXCLUDED_NAMESPACES: dict[str, str] = {
    "admin": "the Django admin is for superusers only and is not a patient-facing or staff console page",
    "fhir-api": "the FHIR API (careportal/fhir/api.py) answers an app's bearer token, not a signed-in session: "
    "tests/fhir/test_openapi.py sends another patient's id, and an unknown one, to every read operation in the "
    "API's OpenAPI document and checks for the same audited 404",
}
