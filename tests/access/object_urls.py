"""Every URL that takes an object id, with how to build that URL for an object that belongs to another patient.

tests/access/test_object_urls.py walks the URL configuration: a new URL with a parameter and no entry here fails
the suite, so no object URL ships without its "another patient's object returns 404" test.

Each entry: url name -> (HTTP method, function(other_patient) -> URL kwargs).
"""

from collections.abc import Callable
from typing import Any

ObjectUrlCase = tuple[str, Callable[[Any], dict[str, Any]]]

OBJECT_URLS: dict[str, ObjectUrlCase] = {
    "home:act-for": ("post", lambda other: {"patient_id": other.public_id}),
}

# URLs with parameters that are not about a patient's objects, and why.
NOT_PATIENT_OBJECT_URLS: dict[str, str] = {}

# Whole namespaces left out, and why.
EXCLUDED_NAMESPACES: dict[str, str] = {
    "admin": "the Django admin is for superusers only and is not a patient-facing or staff console page",
}
