"""Where notifications go: GOV.UK Notify, or email through Django's mail system (SMTP in production, the console
in development, an in-memory outbox in tests).

A backend raises `RetryableSendError` for failures worth trying again (timeouts, 5xx, rate limits) and
`PermanentSendError` for the rest (a bad address, a missing template).
"""

from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from careportal.notifications.kinds import SPECS, Kind


class SendError(Exception):
    def __init__(self, summary: str) -> None:
        # `summary` names the kind of failure only; it is stored and shown to the helpdesk.
        super().__init__(summary)
        self.summary = summary[:200]


class RetryableSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass


class Backend(Protocol):
    def send_email(self, *, kind: Kind, to_address: str, personalisation: dict[str, str]) -> str: ...

    def send_sms(self, *, kind: Kind, to_number: str, personalisation: dict[str, str]) -> str: ...


class DjangoEmailBackend:
    """Plain-text email rendered from `notifications/email/<kind>.txt`, sent with Django's EMAIL_BACKEND."""

    def send_email(self, *, kind: Kind, to_address: str, personalisation: dict[str, str]) -> str:
        body = render_to_string(
            f"notifications/email/{kind.value}.txt",
            {**personalisation, "service_name": settings.CAREPORTAL_SERVICE_NAME},
        )
        message = EmailMessage(
            subject=SPECS[kind].subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[to_address]
        )
        try:
            message.send(fail_silently=False)
        except (OSError, TimeoutError) as error:
            # Connection refused, timeouts, SMTP temporary failures (smtplib errors are OSError subclasses).
            raise RetryableSendError(f"email: {type(error).__name__}") from error
        return ""

    def send_sms(self, *, kind: Kind, to_number: str, personalisation: dict[str, str]) -> str:
        raise PermanentSendError("sms: not available without GOV.UK Notify")


class NotifyBackend:
    """GOV.UK Notify through its official client; template ids come from NOTIFY_TEMPLATE_IDS."""

    def __init__(self) -> None:
        from notifications_python_client.notifications import NotificationsAPIClient

        kwargs = {"timeout": settings.NOTIFY_TIMEOUT_SECONDS}
        if settings.NOTIFY_BASE_URL:
            kwargs["base_url"] = settings.NOTIFY_BASE_URL
        self.client = NotificationsAPIClient(settings.NOTIFY_API_KEY, **kwargs)

    def _template_id(self, kind: Kind, channel: str) -> str:
        template_id = settings.NOTIFY_TEMPLATE_IDS.get(f"{channel}_{kind.value}") or settings.NOTIFY_TEMPLATE_IDS.get(
            kind.value
        )
        if not template_id:
            raise PermanentSendError(f"notify: no template id for {channel} {kind.value}")
        return str(template_id)

    def _call(self, function, **kwargs):  # type: ignore[no-untyped-def]
        from notifications_python_client.errors import HTTPError
        from requests import RequestException

        try:
            response = function(**kwargs)
        except HTTPError as error:
            status = error.status_code
            if status == 429 or status >= 500:
                raise RetryableSendError(f"notify: HTTP {status}") from error
            raise PermanentSendError(f"notify: HTTP {status}") from error
        except RequestException as error:
            raise RetryableSendError(f"notify: {type(error).__name__}") from error
        return str(response.get("id", "")) if isinstance(response, dict) else ""

    def send_email(self, *, kind: Kind, to_address: str, personalisation: dict[str, str]) -> str:
        return self._call(
            self.client.send_email_notification,
            email_address=to_address,
            template_id=self._template_id(kind, "email"),
            personalisation=personalisation,
        )

    def send_sms(self, *, kind: Kind, to_number: str, personalisation: dict[str, str]) -> str:
        return self._call(
            self.client.send_sms_notification,
            phone_number=to_number,
            template_id=self._template_id(kind, "sms"),
            personalisation=personalisation,
        )


def get_backend() -> Backend:
    if settings.NOTIFICATIONS_BACKEND == "notify":
        return NotifyBackend()
    return DjangoEmailBackend()
