"""The access layer for portal accounts: one account by its public id, for the helpdesk.

Built on the shared primitives in `careportal/access/layer.py`; every refusal is the one audited `Http404`.
"""

from uuid import UUID

from careportal.access.layer import Viewer, deny
from careportal.access.scopes import Scope
from careportal.accounts.models import User
from careportal.audit.models import AccessAction
from careportal.audit.services import access_event_record
from careportal.patients.access import access_patient_as_staff
from careportal.patients.models import Patient


def access_account_as_staff(
    *,
    viewer: Viewer,
    public_id: UUID | str,
    object_label: str,
    action: AccessAction = AccessAction.VIEW,
) -> tuple[Viewer, User, Patient | None]:
    """A portal account (a patient's, a proxy's or staff) by its public id, for the helpdesk; Http404 otherwise.

    When the account is a patient's own, the read goes into that patient's access log through
    `access_patient_as_staff`; other accounts' reads are audited without a patient.
    """
    account = None
    if viewer.can(Scope.ACCOUNT):
        account = User.objects.filter(public_id=public_id).first()
    if account is None:
        deny(viewer, object_label=object_label, object_type="accounts.user", object_id=str(public_id))
    patient = Patient.objects.filter(user=account).first()
    if patient is not None:
        viewer, patient = access_patient_as_staff(
            viewer=viewer, public_id=patient.public_id, scope=Scope.ACCOUNT, object_label=object_label, action=action
        )
        return viewer, account, patient
    access_event_record(viewer=viewer, patient=None, action=action, object_label=object_label, obj=account)
    return viewer, account, None
