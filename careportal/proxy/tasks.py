"""Background tasks for proxy access."""

from django_tasks import task

from careportal.proxy.age_rules import proxy_age_rules_apply


@task()
def apply_proxy_age_rules() -> dict[str, int]:
    """The daily age rules and end dates (careportal/proxy/age_rules.py), as of today in London."""
    return proxy_age_rules_apply().as_dict()
