"""The web benchmark's URLconf and password hasher (bench/web_settings.py): the product's URLs plus a bare view."""

import os

from django.contrib.auth.hashers import Argon2PasswordHasher
from django.http import HttpRequest, HttpResponse
from django.urls import path

from careportal.config.urls import urlpatterns as product_urlpatterns


def bare(request: HttpRequest) -> HttpResponse:
    """The least a Django page can do: no database, no template, through the same middleware as every page."""
    return HttpResponse(b"ok", content_type="text/plain")


def _count_one_hash() -> None:
    count_file = os.environ.get("BENCH_HASH_COUNT_FILE")
    if count_file:  # only the server counts; the benchmark's own set-up (outside the timed rows) does not
        with open(count_file, "ab") as counter:
            counter.write(b".")


class CountingArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2, counting each hash computed (a new password, or the dummy hash Django computes for an unknown
    username so that timing does not tell) and each password checked."""

    def encode(self, password: str, salt: str) -> str:
        _count_one_hash()
        return super().encode(password, salt)

    def verify(self, password: str, encoded: str) -> bool:
        _count_one_hash()
        return super().verify(password, encoded)


urlpatterns = [path("bench/bare/", bare), *product_urlpatterns]
