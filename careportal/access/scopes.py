from enum import StrEnum


class Scope(StrEnum):
    """A part of a patient's record. Every access check names the part it reads or changes."""

    APPOINTMENTS = "appointments"
    RESULTS = "results"
    MESSAGES = "messages"
    LETTERS = "letters"
    DETAILS = "details"
    # The patient's own log of who viewed their record: only the patient reads it, never a proxy or staff.
    ACCESS_LOG = "access_log"
    # Account status and events (sign-ins, lockouts): what the helpdesk needs, and nothing clinical.
    ACCOUNT = "account"


CLINICAL_SCOPES = frozenset({Scope.APPOINTMENTS, Scope.RESULTS, Scope.MESSAGES, Scope.LETTERS})
ALL_SCOPES = frozenset(Scope)
CLINICIAN_SCOPES = CLINICAL_SCOPES | {Scope.DETAILS}
HELPDESK_SCOPES = frozenset({Scope.ACCOUNT, Scope.DETAILS})
# What a proxy may be granted; the access log and account stay the patient's own.
PROXY_GRANTABLE_SCOPES = CLINICAL_SCOPES | {Scope.DETAILS}
