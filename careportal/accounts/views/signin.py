from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def locked_out(request: HttpRequest, credentials: dict | None = None, *args: object, **kwargs: object) -> HttpResponse:
    """django-axes calls this when a username is locked at this address. It says nothing about whether the
    account exists (unknown usernames lock the same way)."""
    return render(request, "account/locked_out.jinja", {"page_title": "You cannot sign in at the moment"}, status=429)
