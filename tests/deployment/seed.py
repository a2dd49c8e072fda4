"""A small trust for tests/deployment/test_scale_out.py, written into that test's own database by a child process
(`manage.py shell`), as an operator's set-up would be: the lab's inbound interface, a release rule that makes full
blood counts due at once, patients with accounts, and a clinician (whose sign-in needs the emailed code).

Prints one line of JSON: what the test needs to send results and sign in.
"""

import json

from django.core.management import call_command

from careportal.results.models import ReleaseMode, ReleaseRule
from tests.dbflush.management.commands.flush import Command as TestsFlush
from tests.hl7.interfaces import configure_test_interfaces
from tests.patients.factories import CareTeamMembershipFactory, PatientWithAccountFactory


def seed(*, patients: int) -> dict[str, object]:
    # As on every upgrade; it also creates the database cache's table (careportal/core/apps.py).
    call_command("migrate", interactive=False, verbosity=0)
    # The database may be a copy of pytest's, holding whatever the tests before left: start from empty tables. The
    # child runs with the production-shaped settings, without the tests' flush app, so its flush (which suspends the
    # audit tables' append-only triggers while it empties them) is called by its class.
    call_command(TestsFlush(), interactive=False, verbosity=0)
    configure_test_interfaces()
    ReleaseRule.objects.update_or_create(
        test_code="FBC",
        defaults={
            "description": "Full blood count: at once (scale-out test)",
            "mode": ReleaseMode.AFTER_WORKING_DAYS,
            "working_days": 0,
        },
    )
    created = [
        PatientWithAccountFactory(hospital_number=f"7{n:07d}", user__username=f"scale.patient{n}")
        for n in range(patients)
    ]
    clinician = CareTeamMembershipFactory(user__username="scale.clinician").user
    return {
        "patients": [{"hospital_number": p.hospital_number, "email": p.user.email} for p in created],
        "clinician": {"username": clinician.username, "email": clinician.email},
    }


def main(patients: int) -> None:
    print(json.dumps(seed(patients=patients)))
