"""Every address of a page about a patient's record, found by the mark `patient_area` leaves on its views. The
proxy scope matrix (tests/proxy/test_scope_matrix.py) and the whose-record walk (tests/home/test_whose_record.py)
both start from this list, so a new patient page that neither knows fails both."""

from collections.abc import Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from careportal.access.decorators import PATIENT_AREA_MARKER


def _patient_area_views(patterns: list[Any], namespace: str = "") -> Iterator[str]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patient_area_views(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and getattr(entry.callback, PATIENT_AREA_MARKER, False):
            assert entry.name, f"a patient_area view without a URL name: {entry.pattern}"
            yield f"{namespace}{entry.name}"


def patient_area_url_names() -> list[str]:
    """The URL names ("results:report", ...) of every patient-area page, sorted."""
    return sorted(set(_patient_area_views(get_resolver().url_patterns)))
