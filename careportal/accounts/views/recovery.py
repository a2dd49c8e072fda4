"""Forgotten password and forgotten username. (Being built.)"""

from django.http import HttpRequest, HttpResponse


def forgotten_password(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError


def forgotten_username(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError
