import datetime

import pytest
import time_machine
from django.http import Http404
from django.test import RequestFactory
from django.urls import reverse

from careportal.access.layer import (
    access_object,
    access_patient_record,
    patient_choices,
    staff_viewer,
    viewer_for_request,
)
from careportal.access.scopes import ALL_SCOPES, Scope
from careportal.audit.models import AccessEvent, ActorRole
from careportal.patients.access import access_patient_as_staff, patients_for_staff
from careportal.proxy.models import ProxyRelationship
from tests.accounts.factories import UserFactory
from tests.patients.factories import (
    CareRelationshipFactory,
    CareTeamMembershipFactory,
    PatientWithAccountFactory,
)
from tests.proxy.factories import ProxyRelationshipFactory

pytestmark = pytest.mark.django_db


def _request_for(user, *, acting_for=None):  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/")
    request.user = user
    request.session = {}
    if acting_for is not None:
        request.session["careportal_acting_for"] = str(acting_for.public_id)
    return request


def test_a_patient_sees_every_part_of_their_own_record(patient):
    viewer = viewer_for_request(_request_for(patient.user))
    assert viewer is not None
    assert viewer.patient == patient
    assert viewer.role == ActorRole.PATIENT
    assert viewer.scopes == ALL_SCOPES


def test_someone_with_no_record_and_no_proxy_has_no_viewer():
    assert viewer_for_request(_request_for(UserFactory())) is None


def test_a_proxy_sees_only_the_scopes_granted():
    relationship = ProxyRelationshipFactory(scopes=["appointments", "letters"])
    viewer = viewer_for_request(_request_for(relationship.proxy))
    assert viewer is not None
    assert viewer.patient == relationship.patient
    assert viewer.scopes == {Scope.APPOINTMENTS, Scope.LETTERS}
    assert not viewer.can(Scope.ACCESS_LOG)


def test_a_proxy_never_gets_the_patients_access_log_even_if_a_row_says_so():
    relationship = ProxyRelationshipFactory(scopes=["results", "access_log", "account"])
    viewer = viewer_for_request(_request_for(relationship.proxy))
    assert viewer.scopes == {Scope.RESULTS}


@pytest.mark.parametrize("status", ["requested", "revoked", "ended"])
def test_a_proxy_relationship_that_is_not_active_gives_nothing(status):
    relationship = ProxyRelationshipFactory(status=status)
    assert viewer_for_request(_request_for(relationship.proxy)) is None


def test_a_proxy_relationship_past_its_end_date_gives_nothing():
    relationship = ProxyRelationshipFactory(valid_until=datetime.date(2020, 1, 1))
    assert viewer_for_request(_request_for(relationship.proxy)) is None


class TestParentalAccessByAge:
    """DESIGN.md: full access under 16, appointments only from the 16th birthday, nothing from the 18th."""

    BIRTH = datetime.date(2010, 6, 15)

    def _scopes_on(self, day: str) -> frozenset:
        relationship = ProxyRelationshipFactory(patient__birth_date=self.BIRTH, valid_from=self.BIRTH)
        with time_machine.travel(datetime.datetime.fromisoformat(day), tick=False):
            viewer = viewer_for_request(_request_for(relationship.proxy))
        return viewer.scopes if viewer else frozenset()

    def test_the_day_before_the_16th_birthday_the_parent_has_everything_granted(self):
        assert self._scopes_on("2026-06-14T23:59:00+01:00") == {
            Scope.APPOINTMENTS,
            Scope.RESULTS,
            Scope.MESSAGES,
            Scope.LETTERS,
            Scope.DETAILS,
        }

    def test_from_midnight_on_the_16th_birthday_the_parent_keeps_appointments_only(self):
        assert self._scopes_on("2026-06-15T00:00:01+01:00") == {Scope.APPOINTMENTS}

    def test_from_the_18th_birthday_parental_access_ends(self):
        assert self._scopes_on("2028-06-15T00:00:01+01:00") == frozenset()

    def test_a_lasting_power_of_attorney_is_not_limited_by_age(self):
        relationship = ProxyRelationshipFactory(
            basis="lpa", patient__birth_date=datetime.date(1940, 1, 1), valid_from=datetime.date(2020, 1, 1)
        )
        viewer = viewer_for_request(_request_for(relationship.proxy))
        assert viewer is not None and viewer.can(Scope.RESULTS)


def test_someone_who_is_a_patient_and_a_proxy_chooses_whose_record_to_open(patient):
    ProxyRelationshipFactory(proxy=patient.user)
    choices = patient_choices(patient.user)
    assert [c.role for c in choices] == [ActorRole.PATIENT, ActorRole.PROXY]
    # With no choice made, their own record opens.
    assert viewer_for_request(_request_for(patient.user)).patient == patient


def test_a_session_naming_a_patient_the_user_may_no_longer_see_falls_back(patient, other_patient):
    viewer = viewer_for_request(_request_for(patient.user, acting_for=other_patient))
    assert viewer.patient == patient


def test_reading_a_part_of_the_record_is_audited(patient):
    viewer = viewer_for_request(_request_for(patient.user))
    access_patient_record(viewer=viewer, scope=Scope.DETAILS, object_label="contact details")
    event = AccessEvent.objects.get()
    assert (event.actor, event.patient, event.action, event.succeeded) == (
        patient.user,
        patient,
        "view",
        True,
    )


def test_reading_a_part_outside_the_scopes_is_not_found_and_audited_as_refused():
    relationship = ProxyRelationshipFactory(scopes=["appointments"])
    viewer = viewer_for_request(_request_for(relationship.proxy))
    with pytest.raises(Http404):
        access_patient_record(viewer=viewer, scope=Scope.RESULTS, object_label="test results")
    event = AccessEvent.objects.get()
    assert event.action == "denied" and not event.succeeded and event.patient is None


def test_access_object_returns_the_viewers_own_object(patient):
    own = ProxyRelationshipFactory(patient=patient)
    viewer = viewer_for_request(_request_for(patient.user))
    found = access_object(
        viewer=viewer,
        queryset=ProxyRelationship.objects.all(),
        public_id=own.public_id,
        scope=Scope.DETAILS,
        object_label="proxy",
    )
    assert found == own
    assert AccessEvent.objects.get().object_id == str(own.public_id)


def test_access_object_refuses_another_patients_object(patient, other_patient):
    theirs = ProxyRelationshipFactory(patient=other_patient)
    viewer = viewer_for_request(_request_for(patient.user))
    with pytest.raises(Http404):
        access_object(
            viewer=viewer,
            queryset=ProxyRelationship.objects.all(),
            public_id=theirs.public_id,
            scope=Scope.DETAILS,
            object_label="proxy",
        )
    assert not AccessEvent.objects.filter(patient=other_patient).exists()


class TestStaff:
    def test_a_clinician_sees_only_patients_related_to_their_teams(self, clinician_membership, patient, other_patient):
        viewer = staff_viewer(_request_for(clinician_membership.user))
        assert list(patients_for_staff(viewer)) == [patient]

    def test_an_ended_relationship_no_longer_gives_access(self, clinician_membership, patient):
        patient.care_relationships.update(ended_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
        viewer = staff_viewer(_request_for(clinician_membership.user))
        assert not patients_for_staff(viewer).exists()

    def test_a_clinician_opening_an_unrelated_patient_gets_404(self, clinician_membership, other_patient):
        viewer = staff_viewer(_request_for(clinician_membership.user))
        with pytest.raises(Http404):
            access_patient_as_staff(
                viewer=viewer,
                public_id=other_patient.public_id,
                scope=Scope.RESULTS,
                object_label="test results",
            )

    def test_the_audit_event_names_the_clinicians_team(self, clinician_membership, patient):
        viewer = staff_viewer(_request_for(clinician_membership.user))
        access_patient_as_staff(
            viewer=viewer, public_id=patient.public_id, scope=Scope.RESULTS, object_label="blood test results"
        )
        event = AccessEvent.objects.get()
        assert event.care_team == clinician_membership.care_team
        assert event.actor_role == "clinician"

    def test_the_helpdesk_never_reads_clinical_data(self, helpdesk_user, patient):
        viewer = staff_viewer(_request_for(helpdesk_user))
        for scope in (Scope.RESULTS, Scope.MESSAGES, Scope.LETTERS, Scope.APPOINTMENTS):
            with pytest.raises(Http404):
                access_patient_as_staff(
                    viewer=viewer, public_id=patient.public_id, scope=scope, object_label="clinical data"
                )
        _, found = access_patient_as_staff(
            viewer=viewer, public_id=patient.public_id, scope=Scope.ACCOUNT, object_label="account"
        )
        assert found == patient

    def test_an_inactive_membership_gives_no_staff_console(self, patient):
        membership = CareTeamMembershipFactory(is_active=False)
        CareRelationshipFactory(patient=patient, care_team=membership.care_team)
        from django.test import Client

        client = Client()
        client.force_login(membership.user)
        assert client.get(reverse("staff:home")).status_code == 404


def test_a_patient_cannot_open_the_staff_console(patient_client):
    assert patient_client.get(reverse("staff:home")).status_code == 404


def test_a_clinician_can_open_the_staff_console(clinician_client):
    response = clinician_client.get(reverse("staff:home"))
    assert response.status_code == 200
    assert "Haematology" in response.content.decode()


def test_patient_pages_for_a_proxy_without_the_scope_are_not_found():
    relationship = ProxyRelationshipFactory(scopes=["appointments"])
    from django.test import Client

    client = Client()
    client.force_login(relationship.proxy)
    assert client.get(reverse("patients:your-details")).status_code == 404
    assert client.get(reverse("audit:access-log")).status_code == 404


def test_a_proxy_can_switch_to_a_child_they_act_for_but_not_to_any_other_patient(patient):
    relationship = ProxyRelationshipFactory(proxy=patient.user)
    stranger = PatientWithAccountFactory()
    from django.test import Client

    client = Client()
    client.force_login(patient.user)
    response = client.post(reverse("home:act-for", args=[relationship.patient.public_id]))
    assert response.status_code == 302
    assert relationship.patient.full_name in client.get(reverse("home:home")).content.decode()
    assert client.post(reverse("home:act-for", args=[stranger.public_id])).status_code == 404


def test_acts_as_proxy_written_as_sql_agrees_with_the_orm_subquery(patient, other_patient):  # type: ignore[no-untyped-def]
    from django.db.models import Exists

    from careportal.access.layer import _acts_as_proxy
    from careportal.patients.models import Patient
    from careportal.proxy.models import ProxyStatus

    third = PatientWithAccountFactory()
    ProxyRelationshipFactory(proxy=patient.user, status=ProxyStatus.ACTIVE)
    ProxyRelationshipFactory(proxy=other_patient.user, status=ProxyStatus.REVOKED)  # not active: not acting
    ProxyRelationshipFactory(proxy=third.user, patient=other_patient, status=ProxyStatus.ENDED)
    answers = {}
    for user in (patient.user, other_patient.user, third.user):
        orm = Exists(ProxyRelationship.objects.filter(proxy=user, status=ProxyStatus.ACTIVE))
        mine = Patient.objects.filter(user=user)
        answers[user.username] = mine.annotate(acts=_acts_as_proxy(user)).get().acts
        assert answers[user.username] == mine.annotate(acts=orm).get().acts
    assert answers == {patient.user.username: True, other_patient.user.username: False, third.user.username: False}
