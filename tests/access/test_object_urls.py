import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from careportal.audit.models import AccessEvent
from tests.access.object_urls import EXCLUDED_NAMESPACES, NOT_PATIENT_OBJECT_URLS, OBJECT_URLS


def _urls_with_parameters(patterns, namespace=""):  # type: ignore[no-untyped-def]
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            if entry.namespace in EXCLUDED_NAMESPACES:
                continue
            yield from _urls_with_parameters(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.pattern.converters and entry.name:
            yield f"{namespace}{entry.name}"


URLS_WITH_PARAMETERS = sorted(set(_urls_with_parameters(get_resolver().url_patterns)))


def test_every_url_with_an_object_id_has_a_not_found_case():
    missing = [name for name in URLS_WITH_PARAMETERS if name not in OBJECT_URLS and name not in NOT_PATIENT_OBJECT_URLS]
    assert not missing, f"Add these URLs to tests/access/object_urls.py with a 404 case: {missing}"


def test_object_url_cases_name_real_urls():
    stale = [name for name in OBJECT_URLS if name not in URLS_WITH_PARAMETERS]
    assert not stale, f"tests/access/object_urls.py names URLs that no longer exist: {stale}"


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", sorted(OBJECT_URLS))
def test_another_patients_object_is_not_found_and_the_attempt_is_audited(url_name, patient_client, other_patient):
    method, kwargs_for = OBJECT_URLS[url_name]
    url = reverse(url_name, kwargs=kwargs_for(other_patient))

    response = getattr(patient_client, method)(url)

    assert response.status_code == 404
    assert other_patient.given_name not in response.content.decode()
    denied = AccessEvent.objects.filter(succeeded=False, action="denied")
    assert denied.count() == 1
    assert denied.get().patient is None, "a refusal must not be filed in the other patient's own log"
    assert not AccessEvent.objects.filter(patient=other_patient).exists()


# That an unknown id and another patient's id get the same answer, for patients, proxies, staff, the helpdesk and
# anonymous visitors alike, with GET and POST, is tests/security/test_idor_matrix.py's (docs/security.md).
