"""Test settings: the base settings with a fast password hasher and email kept in memory.

`DATABASE_URL` chooses the database exactly as in production (`make test` runs the suite on SQLite and on
PostgreSQL); pytest-django creates and destroys its own test database either way.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("CAREPORTAL_ENV", "test")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")

from careportal.config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": []}}
INSTALLED_APPS = [*INSTALLED_APPS]  # noqa: F405
if "careportal.demo" not in INSTALLED_APPS:
    INSTALLED_APPS.append("careportal.demo")
# `flush` after transactional tests, with the audit tables' append-only triggers suspended (tests/dbflush/).
INSTALLED_APPS.append("tests.dbflush")
WHITENOISE_AUTOREFRESH = True
# Letters stored by tests that do not choose their own folder (tests/letters/conftest.py does) stay out of var/.
LETTER_ROOT = Path(tempfile.gettempdir()) / f"careportal-test-letters-{os.getpid()}"
