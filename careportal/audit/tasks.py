"""Background tasks for the audit log."""

from django_tasks import task

from careportal.audit.chain import audit_seal


@task()
def seal_access_events() -> int:
    """Seal the access events that have settled (careportal/audit/chain.py). Idempotent; safe on several workers."""
    return sum(seal.event_count for seal in audit_seal())
