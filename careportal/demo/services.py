import datetime
from collections.abc import Mapping

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import Application

from careportal.accounts.activation import code_digest
from careportal.accounts.models import ActivationCode, SecurityAnswer, User
from careportal.accounts.security import hash_answer
from careportal.demo import data
from careportal.fhir.registration import smart_app_register
from careportal.hl7.interface_admin import INTEGRATION_GROUP, integration_group_ensure
from careportal.hl7.interfaces import interfaces_cache_clear
from careportal.hl7.models import InboundInterface
from careportal.letters.models import PRINT_ROOM_GROUP
from careportal.letters.services import print_room_group_ensure
from careportal.patients.models import CareRelationship, CareTeam, CareTeamMembership, Patient
from careportal.proxy.history import relationship_event_record
from careportal.proxy.models import ProxyEventKind, ProxyOrigin, ProxyRelationship, ProxyStatus
from careportal.results.models import ResultRouting


def _demo_user(*, username: str, **fields: object) -> User:
    user, created = User.objects.get_or_create(username=username, defaults=fields)
    if created:
        user.set_password(data.DEMO_PASSWORD)
        user.save(update_fields=["password"])
        if user.email:
            # Demo addresses count as confirmed, so that sign-in codes for staff reach the console at once.
            EmailAddress.objects.get_or_create(
                user=user, email=user.email, defaults={"verified": True, "primary": True}
            )
    return user


def _demo_activation_code(patient: Patient) -> None:
    digest = code_digest(data.DEMO_ACTIVATION_CODE)
    if patient.user_id or ActivationCode.objects.filter(code_digest=digest).exists():
        return
    ActivationCode.objects.create(
        patient=patient,
        code_digest=digest,
        expires_at=timezone.now() + datetime.timedelta(days=settings.CAREPORTAL_ACTIVATION_CODE_DAYS),
    )


def _demo_proxy_relationship(proxy: Mapping[str, object]) -> None:
    """One demo proxy: an active relationship set up by staff with its evidence, or an application waiting for the
    helpdesk; each with the first line of its history."""
    user = _demo_user(
        username=str(proxy["username"]),
        display_name=proxy["display_name"],
        first_name=proxy["first_name"],
        last_name=proxy["last_name"],
        email=proxy["email"],
    )
    patient = Patient.objects.get(hospital_number=proxy["patient"])
    is_active = proxy["status"] == ProxyStatus.ACTIVE
    helpdesk = User.objects.filter(username="demo.helpdesk").first() if is_active else None
    relationship, created = ProxyRelationship.objects.get_or_create(
        proxy=user,
        patient=patient,
        defaults={
            "relationship": str(proxy["relationship"]),
            "basis": str(proxy["basis"]),
            "origin": ProxyOrigin.STAFF if is_active else ProxyOrigin.APPLICATION,
            "scopes": proxy["scopes"],
            "status": str(proxy["status"]),
            "valid_from": patient.birth_date if is_active else timezone.localdate(),
            "identity_evidence": str(proxy.get("identity_evidence", "")),
            "relationship_evidence": str(proxy.get("relationship_evidence", "")),
            "evidence_note": str(proxy.get("evidence_note", "")),
            "applicant_note": str(proxy.get("applicant_note", "")),
            "verified_by": helpdesk,
            "verified_at": timezone.now() if is_active else None,
        },
    )
    if created:
        relationship_event_record(
            relationship=relationship,
            kind=ProxyEventKind.SET_UP_BY_STAFF if is_active else ProxyEventKind.APPLIED,
            actor=helpdesk if is_active else user,
            scopes_after=relationship.scopes,
        )


DEMO_APP_CLIENT_ID = "careportal-demo-app"


def _demo_smart_app() -> None:
    """A public SMART on FHIR app with a known client id, so a newcomer can try a standalone launch at once
    (docs/smart-on-fhir.md): its redirect address is on this machine, where nothing listens unless they run one."""
    if Application.objects.filter(client_id=DEMO_APP_CLIENT_ID).exists():
        return
    registered = smart_app_register(
        name="CarePortal demo app", redirect_uris=["http://127.0.0.1:8765/callback"], confidential=False
    )
    registered.application.client_id = DEMO_APP_CLIENT_ID
    registered.application.save(update_fields=["client_id"])


def demo_interfaces_load() -> int:
    """The inbound interfaces the demo's sample messages come through; kept as they are when they exist (an
    administrator may have changed them). Returns how many were added."""
    added = 0
    for name, application, facility, types in data.DEMO_INTERFACES:
        _, created = InboundInterface.objects.get_or_create(
            sending_application=application,
            sending_facility=facility,
            defaults={
                "name": name,
                "message_types": types,
                "source_networks": data.DEMO_LOOPBACK,
                "hospital_number_authority": data.DEMO_HOSPITAL_NUMBER_AUTHORITY,
            },
        )
        added += created
    if added:
        interfaces_cache_clear()
    return added


@transaction.atomic
def demo_trust_load() -> dict[str, int]:
    """Create the demo trust, or leave it as it is: running this twice changes nothing."""
    created = {"care_teams": 0, "patients": 0, "users": 0}
    teams: dict[str, CareTeam] = {}
    for team_fields in data.CARE_TEAMS:
        team, was_created = CareTeam.objects.get_or_create(name=team_fields["name"], defaults=team_fields)
        teams[team.name] = team
        created["care_teams"] += was_created

    for match, code, team_name in data.RESULT_ROUTINGS:
        ResultRouting.objects.get_or_create(match=match, code=code, defaults={"care_team": teams[team_name]})

    users_before = User.objects.count()
    for staff in data.STAFF:
        fields = {k: v for k, v in staff.items() if k not in {"username", "teams", "groups"}}
        user = _demo_user(username=str(staff["username"]), **fields)
        ensure_group = {INTEGRATION_GROUP: integration_group_ensure, PRINT_ROOM_GROUP: print_room_group_ensure}
        for group_name in staff.get("groups", []):  # type: ignore[attr-defined]
            user.groups.add(
                ensure_group[group_name]() if group_name in ensure_group else Group.objects.get(name=group_name)
            )
        for team_name, role in staff["teams"]:  # type: ignore[attr-defined]
            CareTeamMembership.objects.get_or_create(care_team=teams[team_name], user=user, defaults={"role": role})

    demo_interfaces_load()

    for patient_fields in data.PATIENTS:
        fields = {k: v for k, v in patient_fields.items() if k not in {"account", "care_teams", "activation_code"}}
        patient, was_created = Patient.objects.get_or_create(
            hospital_number=fields.pop("hospital_number"), defaults=fields
        )
        created["patients"] += was_created
        if patient_fields["account"] and patient.user_id is None:
            patient.user = _demo_user(
                username=str(patient_fields["account"]),
                first_name=patient.given_name,
                last_name=patient.family_name,
                email=patient.email,
            )
            patient.save(update_fields=["user"])
            for question, answer in data.DEMO_SECURITY_ANSWERS.items():
                SecurityAnswer.objects.get_or_create(
                    user=patient.user, question=question, defaults={"answer_hash": hash_answer(answer)}
                )
        if patient_fields.get("activation_code"):
            _demo_activation_code(patient)
        for team_name, reason in patient_fields["care_teams"]:  # type: ignore[attr-defined]
            CareRelationship.objects.get_or_create(patient=patient, care_team=teams[team_name], reason=reason)

    for proxy in data.PROXIES:
        _demo_proxy_relationship(proxy)
    _demo_smart_app()
    created["users"] = User.objects.count() - users_before
    return created
