"""Which scopes a proxy relationship gives on a given day (DESIGN.md, Proxy; UCLH's published rules).

A parent or guardian of a child under 16 has the scopes granted. From the child's 16th birthday the parent keeps
appointments only; from the 18th, nothing, unless the adult patient grants access themselves or staff record a
legal authority (lasting power of attorney, court deputyship): those relationships are not age-limited. The ages
and the scopes kept are the trust's (`ProxyPolicy`, changed by an admin); 16, 18 and appointments are the defaults.
"""

import datetime

from careportal.access.scopes import PROXY_GRANTABLE_SCOPES, Scope
from careportal.proxy.models import ProxyBasis, ProxyPolicy, ProxyRelationship, ProxyStatus


def age_on(birth_date: datetime.date, day: datetime.date) -> int:
    had_birthday = (day.month, day.day) >= (birth_date.month, birth_date.day)
    return day.year - birth_date.year - (0 if had_birthday else 1)


def birthday_at_age(birth_date: datetime.date, age: int) -> datetime.date:
    """The day someone born on `birth_date` turns `age`: 29 February birthdays fall on 1 March in other years, the
    first day on which `age_on` counts the new age."""
    try:
        return birth_date.replace(year=birth_date.year + age)
    except ValueError:
        return datetime.date(birth_date.year + age, 3, 1)


def effective_proxy_scopes(
    relationship: ProxyRelationship, *, today: datetime.date, policy: ProxyPolicy | None = None
) -> frozenset[Scope]:
    if relationship.status != ProxyStatus.ACTIVE:
        return frozenset()
    if today < relationship.valid_from or (relationship.valid_until and today > relationship.valid_until):
        return frozenset()
    granted = frozenset(Scope(s) for s in relationship.scopes if s in PROXY_GRANTABLE_SCOPES)
    if relationship.basis != ProxyBasis.PARENTAL_RESPONSIBILITY:
        return granted
    policy = policy or ProxyPolicy.current()
    age = age_on(relationship.patient.birth_date, today)
    if age >= policy.parental_access_ends_at_age:
        return frozenset()
    if age >= policy.parental_full_access_until_age:
        kept = frozenset(Scope(s) for s in policy.scopes_kept_after_narrowing if s in PROXY_GRANTABLE_SCOPES)
        return granted & kept
    return granted
