"""Every page without parameters answers signed-in and signed-out visitors without a server error.

django-allauth brings many pages; CarePortal renders the ones it uses with its own templates and redirects the
rest. A page that allauth adds in an upgrade, with no template of ours, fails here rather than in front of a patient.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver


def _routes(patterns, prefix=""):  # type: ignore[no-untyped-def]
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


ROUTES = sorted(
    {
        "/" + route
        for route in _routes(get_resolver().url_patterns)
        if "<" not in route and "(?P" not in route and "^" not in route and not route.startswith("admin")
    }
)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ROUTES)
def test_page_answers_without_a_server_error(path, patient_client, client):
    for visitor in (patient_client, client):
        response = visitor.get(path)
        assert response.status_code < 500, f"{path} gave {response.status_code}"
