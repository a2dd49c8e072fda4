"""Who may manage which proxy access from the patient's side (docs/access-for-others.md, "Who can change what").

- Only a patient aged at least `ProxyPolicy.parental_full_access_until_age` (16 by default), acting for themself,
  may invite someone. A proxy can never invite further proxies.
- A child under that age may see who acts for them, but changes are made by staff: a parent's access to a child's
  record is set up, and taken away, by the helpdesk (they check parental responsibility and the child's wishes).
- From that age the patient may take anyone's access away, and change its end date. What a parent sees is set by
  the age rules (appointments only from 16), so the patient cannot widen it: to let a parent see more, the patient
  takes the parent's access away and invites them instead. Access the patient granted, or that a legal authority
  gives (lasting power of attorney, court deputyship), may have its parts changed by the patient.
"""

import datetime

from careportal.access.proxy_policy import age_on
from careportal.patients.models import Patient
from careportal.proxy.models import ProxyBasis, ProxyPolicy, ProxyRelationship, ProxyStatus


def patient_is_of_age(patient: Patient, *, today: datetime.date, policy: ProxyPolicy | None = None) -> bool:
    policy = policy or ProxyPolicy.current()
    return age_on(patient.birth_date, today) >= policy.parental_full_access_until_age


def patient_may_invite(patient: Patient | None, *, today: datetime.date) -> bool:
    return patient is not None and patient_is_of_age(patient, today=today)


def patient_may_take_away(relationship: ProxyRelationship, *, today: datetime.date) -> bool:
    return relationship.status == ProxyStatus.ACTIVE and patient_is_of_age(relationship.patient, today=today)


def patient_may_change_parts(relationship: ProxyRelationship, *, today: datetime.date) -> bool:
    return patient_may_take_away(relationship, today=today) and relationship.basis != ProxyBasis.PARENTAL_RESPONSIBILITY
