"""How django-axes finds the username of a sign-in attempt.

allauth authenticates with `username=...` while our sign-in form posts the field `login`; axes must see the same
name in both places, or a failure is recorded under one name and the lock is checked under another. Usernames are
matched case-insensitively, as sign-in is.
"""

from typing import Any

from django.http import HttpRequest


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    username = None
    if credentials:
        username = credentials.get("username") or credentials.get("login")
    if not username and request is not None:
        data = getattr(request, "data", None) or request.POST
        username = data.get("login") or data.get("username")
    return str(username).strip().lower()[:150] if username else None
