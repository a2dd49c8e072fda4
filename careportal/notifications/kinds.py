"""Every kind of email or text CarePortal sends, with what it may say.

Notifications carry no clinical detail and no identifier beyond the person's first name: "You have a new message in
CarePortal". Each kind lists the only personalisation keys it accepts, so a caller cannot slip anything else in.
With GOV.UK Notify, each kind maps to a template id from settings (NOTIFY_TEMPLATE_IDS); with email through Django,
each kind renders `notifications/email/<kind>.txt`.
"""

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    SIGN_IN_CODE = "sign_in_code"
    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a kind of email, not a password
    USERNAME_REMINDER = "username_reminder"
    SECURITY_CHANGE = "security_change"
    SUPPORT_REPLY = "support_reply"
    NEW_MESSAGE = "new_message"
    RESULT_RELEASED = "result_released"
    APPOINTMENT_REMINDER = "appointment_reminder"
    APPOINTMENT_CHANGED = "appointment_changed"
    NEW_LETTER = "new_letter"
    CONTACT_DETAILS_CHANGED = "contact_details_changed"
    PROXY_INVITATION = "proxy_invitation"
    PROXY_ACCESS_CHANGED = "proxy_access_changed"
    PROXY_APPLICATION_DECIDED = "proxy_application_decided"
    PROXY_AGE_NOTICE = "proxy_age_notice"
    EXPORT_READY = "export_ready"


@dataclass(frozen=True)
class KindSpec:
    subject: str
    personalisation: frozenset[str]
    # Codes and single-use links are worthless after a short time; a stale one must not go out after a long outage.
    max_age_minutes: int | None = None
    # "Something new is in CarePortal": sent by email, text message or both, as the patient chose (Patient
    # notify_by_email / notify_by_sms, careportal/notifications/services.py). The other kinds are about the
    # account itself (sign-in codes, links, changes to how they sign in or to their contact details) and always
    # go by email, to the address they are for, whatever the patient chose.
    follows_preferences: bool = False


SPECS: dict[Kind, KindSpec] = {
    Kind.SIGN_IN_CODE: KindSpec("Your CarePortal sign-in code", frozenset({"first_name", "code"}), 10),
    Kind.EMAIL_VERIFICATION: KindSpec("Confirm your email address for CarePortal", frozenset({"first_name", "link"})),
    Kind.PASSWORD_RESET: KindSpec("Reset your CarePortal password", frozenset({"first_name", "link"}), 60),
    Kind.USERNAME_REMINDER: KindSpec("Your CarePortal username", frozenset({"first_name", "username"})),
    Kind.SECURITY_CHANGE: KindSpec("A change to how you sign in to CarePortal", frozenset({"first_name", "change"})),
    Kind.SUPPORT_REPLY: KindSpec("A reply from the CarePortal helpdesk", frozenset({"first_name", "reply"})),
    Kind.NEW_MESSAGE: KindSpec(
        "You have a new message in CarePortal", frozenset({"first_name"}), follows_preferences=True
    ),
    Kind.RESULT_RELEASED: KindSpec(
        "You have a new test result in CarePortal", frozenset({"first_name"}), follows_preferences=True
    ),
    # The day and time only: never the clinic, the team or the kind of appointment, which can be clinical detail.
    Kind.APPOINTMENT_REMINDER: KindSpec(
        "Reminder: you have a hospital appointment",
        frozenset({"first_name", "when"}),
        24 * 60,
        follows_preferences=True,
    ),
    Kind.APPOINTMENT_CHANGED: KindSpec(
        "A change to a hospital appointment", frozenset({"first_name"}), follows_preferences=True
    ),
    Kind.NEW_LETTER: KindSpec(
        "You have a new letter in CarePortal", frozenset({"first_name"}), follows_preferences=True
    ),
    Kind.CONTACT_DETAILS_CHANGED: KindSpec(
        "Your contact details in CarePortal were changed", frozenset({"first_name", "change"})
    ),
    # Proxy access (careportal/proxy/). The invitation goes to an address that may have no account yet; it names
    # who invited them by first name only (what the invitee needs to trust the link), never the hospital or a team.
    Kind.PROXY_INVITATION: KindSpec(
        "You have been invited to help someone with their hospital record",
        frozenset({"first_name", "inviter_first_name", "link", "expires"}),
        14 * 24 * 60,
    ),
    # "Someone's access to your record changed" / "your access to someone's record changed": `change` is plain
    # words from careportal/proxy/ ("access was taken away"), never a clinical detail.
    Kind.PROXY_ACCESS_CHANGED: KindSpec(
        "A change to who can act for someone in CarePortal", frozenset({"first_name", "change"})
    ),
    Kind.PROXY_APPLICATION_DECIDED: KindSpec(
        "Your request to act for someone in CarePortal has been decided", frozenset({"first_name"})
    ),
    # The date only: "on 3 May 2031 access will change". Both sides get it, 30 days before and on the day.
    Kind.PROXY_AGE_NOTICE: KindSpec(
        "A change to access to a CarePortal record is coming", frozenset({"first_name", "change", "when"})
    ),
    # "Download my record" (careportal/fhir/export_services.py): that a copy is ready, never what it holds or whose.
    Kind.EXPORT_READY: KindSpec(
        "Your copy of a hospital record is ready to download in CarePortal", frozenset({"first_name"})
    ),
}
