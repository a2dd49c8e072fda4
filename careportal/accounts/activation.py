"""Activation codes: generated, stored as a keyed hash, looked up by what the patient types."""

import hashlib
import hmac
import secrets

from django.conf import settings

# No 0/O, 1/I/L, 5/S, 2/Z: a code read from a letter or over the phone must not be misread.
ALPHABET = "ABCDEFGHJKMNPQRTUVWXY346789"
CODE_LENGTH = 12


def generate_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return format_code(raw)


def format_code(raw: str) -> str:
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalise_code(typed: str) -> str:
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def code_digest(typed: str) -> str:
    key = f"careportal-activation:{settings.SECRET_KEY}".encode()
    return hmac.new(key, normalise_code(typed).encode(), hashlib.sha256).hexdigest()
