"""Every URL that takes an object id, with how to build that URL for an object that belongs to another patient.

tests/access/test_object_urls.py walks the URL configuration: a new URL with a parameter and no entry here fails
the suite, so no object URL ships without its "another patient's object returns 404" test.

Each entry: url name -> (HTTP method, function(other_patient) -> URL kwargs).
"""

from collections.abc import Callable
from typing import Any

ObjectUrlCase = tuple[str, Callable[[Any], dict[str, Any]]]


def _support_request_of(other: Any) -> dict[str, Any]:
    from tests.helpdesk.factories import SupportRequestFactory

    return {"request_id": SupportRequestFactory(user=other.user).public_id}


def _failed_notification_of(other: Any) -> dict[str, Any]:
    from tests.helpdesk.factories import FailedNotificationFactory

    return {"notification_id": FailedNotificationFactory(user=other.user).public_id}


OBJECT_URLS: dict[str, ObjectUrlCase] = {
    "home:act-for": ("post", lambda other: {"patient_id": other.public_id}),
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
}

# URLs with parameters that are not about a patient's objects, and why.
NOT_PATIENT_OBJECT_URLS: dict[str, str] = {
    "accounts:session-end": "a person's own sign-in session, not patient data: another person's session id gets 404 "
    "(tests/accounts/test_sessions.py)",
    "accounts:forget-trusted-device": "a person's own trusted browser, not patient data: another person's device id "
    "gets 404 (tests/accounts/test_trusted_devices.py)",
}

# Whole namespaces left out, and why.
EXCLUDED_NAMESPACES: dict[str, str] = {
    "admin": "the Django admin is for superusers only and is not a patient-facing or staff console page",
}
