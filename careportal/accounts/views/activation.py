"""Activation: a patient with a code from the hospital creates their portal account. (Being built.)"""

from django.http import HttpRequest, HttpResponse


def activate(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError
