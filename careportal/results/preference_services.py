"""The patient's "wait for my clinician" choices: which kinds of result are released only by a clinician.

The release job (careportal/results/) reads ResultPreference when it decides whether a due report may be released
automatically; this module only records the choice.
"""

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db import transaction

from careportal.access.layer import Viewer, access_patient_record
from careportal.access.scopes import Scope
from careportal.audit.models import AccessAction, ActorRole
from careportal.results.models import ResultKind, ResultPreference


def viewer_may_change_result_preferences(viewer: Viewer) -> bool:
    # A choice about what the patient is ready to read is the patient's own: a proxy sees it and cannot change it.
    return viewer.role == ActorRole.PATIENT and viewer.can(Scope.RESULTS)


@transaction.atomic
def result_preferences_update(*, viewer: Viewer, wait_for_kinds: Iterable[str]) -> frozenset[str]:
    """Record which kinds of result wait for a clinician (every other kind does not). Audited as a change."""
    if not viewer_may_change_result_preferences(viewer):
        raise PermissionDenied("Only the patient can change this")
    patient = access_patient_record(
        viewer=viewer, scope=Scope.RESULTS, object_label="test result preferences", action=AccessAction.UPDATE
    )
    chosen = frozenset(wait_for_kinds)
    unknown = chosen - set(ResultKind.values)
    if unknown:
        raise ValueError("unknown kind of result")
    for kind in ResultKind.values:
        ResultPreference.objects.update_or_create(
            patient=patient, result_kind=kind, defaults={"wait_for_clinician": kind in chosen}
        )
    return chosen
