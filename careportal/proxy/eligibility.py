"""Who may act for whom on which basis, and on what evidence: the rules shared by an application
(careportal/proxy/application_services.py), the helpdesk's decision on it, and a set-up by staff
(careportal/proxy/staff_services.py). Pure functions of dates and choices; the ages come from `ProxyPolicy`.

- A parent or guardian (PARENTAL_RESPONSIBILITY) acts for a child under the policy's first age (16): from then
  they keep the narrowed scopes only (appointments), and from the second age (18) nothing.
- A lasting power of attorney for health and welfare, or a court deputyship for personal welfare, is for an adult
  (the policy's second age, 18): an LPA can only be made by someone aged 18 or over.
- Each basis needs its own kind of relationship evidence (docs/proxy-access-helpdesk.md).
"""

import datetime

from careportal.access.proxy_policy import age_on
from careportal.proxy.models import ProxyBasis, ProxyPolicy, ProxyScope, RelationshipEvidence

# The relationship evidence that supports each basis.
EVIDENCE_FOR_BASIS: dict[str, frozenset[str]] = {
    ProxyBasis.PARENTAL_RESPONSIBILITY: frozenset(
        {
            RelationshipEvidence.BIRTH_CERTIFICATE,
            RelationshipEvidence.ADOPTION_CERTIFICATE,
            RelationshipEvidence.PARENTAL_RESPONSIBILITY_ORDER,
            RelationshipEvidence.SPECIAL_GUARDIANSHIP_ORDER,
        }
    ),
    ProxyBasis.LASTING_POWER_OF_ATTORNEY: frozenset({RelationshipEvidence.LASTING_POWER_OF_ATTORNEY}),
    ProxyBasis.COURT_DEPUTY: frozenset({RelationshipEvidence.COURT_DEPUTYSHIP_ORDER}),
    ProxyBasis.PATIENT_GRANTED: frozenset({RelationshipEvidence.PATIENT_CONSENT}),
}

# The bases a person may apply on (an adult grants access themselves, by invitation).
APPLICATION_BASES = (
    ProxyBasis.PARENTAL_RESPONSIBILITY,
    ProxyBasis.LASTING_POWER_OF_ATTORNEY,
    ProxyBasis.COURT_DEPUTY,
)
LEGAL_AUTHORITY_BASES = frozenset({ProxyBasis.LASTING_POWER_OF_ATTORNEY, ProxyBasis.COURT_DEPUTY})


def basis_age_problem(
    *, basis: str, birth_date: datetime.date, today: datetime.date, policy: ProxyPolicy, applicant: bool = True
) -> str:
    """Why `basis` cannot be used for someone born on `birth_date`, in plain words; "" when it can. `applicant`
    words the message for the person applying; otherwise for staff."""
    age = age_on(birth_date, today)
    full_until = policy.parental_full_access_until_age
    adult = policy.parental_access_ends_at_age
    if basis == ProxyBasis.PARENTAL_RESPONSIBILITY and age >= full_until:
        if applicant:
            return (
                f"A parent or guardian can apply only for a child under {full_until}. Someone aged {full_until} or "
                "over can give you access themselves from their own CarePortal account. If they cannot make "
                "decisions for themselves, apply with a lasting power of attorney or as their court-appointed deputy."
            )
        return (
            f"They are {age}: a parent or guardian can be set up only for a child under {full_until}. Someone of "
            f'{full_until} or over gives access themselves (choose "Granted by the patient" with their consent), '
            "or a legal authority is needed."
        )
    if basis in LEGAL_AUTHORITY_BASES and age < adult:
        if applicant:
            child = (
                f"For a child under {full_until}, apply as their parent or guardian."
                if age < full_until
                else "A young person of this age can give you access themselves from their own CarePortal account."
            )
            return f"A lasting power of attorney or a deputyship is only for someone aged {adult} or over. {child}"
        return f"They are {age}: a lasting power of attorney or a deputyship is only for someone aged {adult} or over."
    return ""


def approval_age_problem(
    *, basis: str, birth_date: datetime.date, scopes: list[str], today: datetime.date, policy: ProxyPolicy
) -> str:
    """Why an application on `basis` cannot be approved today with `scopes` (the age rules, re-checked when the
    helpdesk decides, since the child may have had a birthday while the application waited); "" when it can."""
    age = age_on(birth_date, today)
    if basis == ProxyBasis.PARENTAL_RESPONSIBILITY and age >= policy.parental_full_access_until_age:
        if age >= policy.parental_access_ends_at_age:
            return (
                f"They are now {age}: a parent's access ends at {policy.parental_access_ends_at_age}, so this "
                "application cannot be approved. Decline it and explain that the patient can give access "
                "themselves, or that a lasting power of attorney or deputyship is needed."
            )
        kept = set(policy.scopes_kept_after_narrowing)
        if set(scopes) - kept:
            kept_words = " and ".join(ProxyScope(s).label.lower() for s in sorted(kept)) or "nothing"
            return (
                f"They are now {age}: from {policy.parental_full_access_until_age} a parent keeps {kept_words} "
                f"only. Approve with only {kept_words} selected, or decline and explain that the young person can "
                "give access themselves."
            )
        return ""
    return basis_age_problem(basis=basis, birth_date=birth_date, today=today, policy=policy, applicant=False)


def evidence_problem(*, basis: str, identity_evidence: str, relationship_evidence: str) -> str:
    """What is missing or wrong in the evidence recorded for `basis`; "" when it is enough."""
    if not identity_evidence and not relationship_evidence:
        return (
            "Record the evidence you saw of who they are and of their relationship before approving. "
            "Access cannot be given with no evidence recorded."
        )
    if not identity_evidence:
        return "Record the evidence you saw of who they are before approving."
    if not relationship_evidence:
        return "Record the evidence you saw of their relationship or legal authority before approving."
    if relationship_evidence not in EVIDENCE_FOR_BASIS.get(basis, frozenset()):
        wanted = " or ".join(
            RelationshipEvidence(value).label.lower() for value in sorted(EVIDENCE_FOR_BASIS.get(basis, ()))
        )
        return f"{RelationshipEvidence(relationship_evidence).label} does not show this basis: it needs {wanted}."
    return ""
