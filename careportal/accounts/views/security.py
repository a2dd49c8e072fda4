"""The patient's "Sign-in and security" pages: two-step verification, sessions, trusted devices. (Being built.)"""

from django.http import HttpRequest, HttpResponse


def security_home(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError
