"""Recovery jobs for the task worker. The request hands over one job whatever it found, so that whether there was an
account to email never shows in the response or its timing (careportal/accounts/recovery.py)."""

from django_tasks import task

from careportal.accounts.recovery import password_reset_link_send, username_reminders_send


@task()
def send_password_reset_link(user_id: int | None, link_url: str) -> None:
    password_reset_link_send(user_id=user_id, link_url=link_url)


@task()
def send_username_reminders(recipients: list[list[int | None]], ip_address: str | None) -> int:
    return username_reminders_send(recipients=recipients, ip_address=ip_address)
