import pytest

from careportal.audit.models import AccessEvent, AppendOnlyError

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(patient):
    return AccessEvent.objects.create(
        actor=patient.user,
        actor_role="patient",
        patient=patient,
        action="view",
        object_label="contact details",
    )


def test_an_access_event_cannot_be_changed(event):
    event.object_label = "something else"
    with pytest.raises(AppendOnlyError):
        event.save()


def test_an_access_event_cannot_be_deleted(event):
    with pytest.raises(AppendOnlyError):
        event.delete()


def test_access_events_cannot_be_bulk_updated_or_deleted(event):
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.filter(pk=event.pk).update(object_label="x")
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.all().delete()
    assert AccessEvent.objects.get(pk=event.pk).object_label == "contact details"


def test_the_admin_can_neither_add_change_nor_delete_access_events(rf, event):
    from django.contrib.admin.sites import site

    from tests.accounts.factories import UserFactory

    request = rf.get("/")
    request.user = UserFactory(is_superuser=True, is_staff=True)
    model_admin = site._registry[AccessEvent]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
