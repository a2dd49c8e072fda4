"""Which scopes a proxy relationship gives on a given day (DESIGN.md, Proxy; UCLH's published rules).

A parent or guardian of a child under 16 has the scopes granted. From the child's 16th birthday the parent keeps
appointments only; from the 18th, nothing, unless the adult patient grants access themselves or staff record a
legal authority (lasting power of attorney, court deputyship): those relationships are not age-limited.
"""

import datetime

from careportal.access.scopes import PROXY_GRANTABLE_SCOPES, Scope
from careportal.proxy.models import ProxyBasis, ProxyRelationship, ProxyStatus

PARENTAL_FULL_ACCESS_UNTIL_AGE = 16
PARENTAL_ACCESS_ENDS_AT_AGE = 18
SCOPES_KEPT_FROM_16 = frozenset({Scope.APPOINTMENTS})


def age_on(birth_date: datetime.date, day: datetime.date) -> int:
    had_birthday = (day.month, day.day) >= (birth_date.month, birth_date.day)
    return day.year - birth_date.year - (0 if had_birthday else 1)


def effective_proxy_scopes(relationship: ProxyRelationship, *, today: datetime.date) -> frozenset[Scope]:
    if relationship.status != ProxyStatus.ACTIVE:
        return frozenset()
    if today < relationship.valid_from or (relationship.valid_until and today > relationship.valid_until):
        return frozenset()
    granted = frozenset(Scope(s) for s in relationship.scopes if s in PROXY_GRANTABLE_SCOPES)
    if relationship.basis != ProxyBasis.PARENTAL_RESPONSIBILITY:
        return granted
    age = age_on(relationship.patient.birth_date, today)
    if age >= PARENTAL_ACCESS_ENDS_AT_AGE:
        return frozenset()
    if age >= PARENTAL_FULL_ACCESS_UNTIL_AGE:
        return granted & SCOPES_KEPT_FROM_16
    return granted
