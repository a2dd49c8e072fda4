"""`manage.py issue_activation_codes`: the letter-printing job's codes, shown once, audited, never logged."""

import csv
import datetime
import io
import re
import stat

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from careportal.accounts.activation import code_digest
from careportal.accounts.activation_services import Outcome, activation_code_check
from careportal.accounts.models import ActivationCode
from careportal.audit.models import AccessEvent, ActorRole
from tests.accounts.activation_steps import BIRTH_DATE, POSTCODE
from tests.core.test_logging import captured_logs  # noqa: F401 - a fixture
from tests.patients.factories import PatientFactory, PatientWithAccountFactory

pytestmark = pytest.mark.django_db

PRINTED = re.compile(r"^(?P<number>\S+)\t(?P<code>[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})\texpires (?P<date>[\d-]+)$")


def issue(*numbers: str, output: str | None = None) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    args = [arg for number in numbers for arg in ("--hospital-number", number)]
    if output:
        args += ["--output", output]
    call_command("issue_activation_codes", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_prints_a_working_code_once_and_audits_it(settings):
    patient = PatientFactory(hospital_number="40077801", birth_date=BIRTH_DATE, postcode=POSTCODE)
    stdout, _ = issue("40077801")

    match = PRINTED.match(stdout.strip())
    assert match, stdout
    code = match.group("code")
    expected_expiry = timezone.localdate() + datetime.timedelta(days=settings.CAREPORTAL_ACTIVATION_CODE_DAYS)
    assert match.group("date") == expected_expiry.isoformat()
    row = ActivationCode.objects.get(patient=patient)
    assert row.code_digest == code_digest(code)
    assert code not in row.code_digest
    check = activation_code_check(code=code, birth_date=BIRTH_DATE, postcode=POSTCODE, ip_address="192.0.2.1")
    assert check.outcome is Outcome.MATCHED
    [event] = AccessEvent.objects.filter(patient=patient)
    assert (event.actor_id, event.actor_role, event.action, event.object_label) == (
        None,
        ActorRole.SYSTEM,
        "create",
        "account activation code",
    )


def test_a_new_code_replaces_the_earlier_one():
    patient = PatientFactory(hospital_number="40077801")
    first = PRINTED.match(issue("40077801")[0].strip()).group("code")
    second = PRINTED.match(issue("40077801")[0].strip()).group("code")
    assert first != second
    assert ActivationCode.objects.get(code_digest=code_digest(first)).revoked_at is not None
    assert ActivationCode.objects.get(code_digest=code_digest(second)).revoked_at is None
    assert ActivationCode.objects.filter(patient=patient).count() == 2


def test_writes_the_letters_file_readable_by_its_owner_only(tmp_path):
    PatientFactory(hospital_number="40077801", given_name="Siobhán", family_name="O'Sullivan", postcode=POSTCODE)
    PatientFactory(hospital_number="40077802")
    output = tmp_path / "letters.csv"

    stdout, stderr = issue("40077801", "40077802", "40077801", output=str(output))

    assert stdout == "", "codes go to the file only"
    assert "Issued 2 activation code(s)" in stderr
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    rows = list(csv.DictReader(output.open(encoding="utf-8")))
    assert [row["hospital_number"] for row in rows] == ["40077801", "40077802"]
    assert rows[0]["given_name"] == "Siobhán"
    assert rows[0]["postcode"] == POSTCODE
    for row in rows:
        assert ActivationCode.objects.filter(code_digest=code_digest(row["activation_code"])).exists()


def test_never_overwrites_a_file(tmp_path):
    PatientFactory(hospital_number="40077801")
    output = tmp_path / "letters.csv"
    output.write_text("yesterday's letters")
    with pytest.raises(CommandError, match="already exists"):
        issue("40077801", output=str(output))
    assert output.read_text() == "yesterday's letters"
    assert not ActivationCode.objects.exists()


def test_an_unknown_hospital_number_issues_nothing(tmp_path):
    PatientFactory(hospital_number="40077801")
    output = tmp_path / "letters.csv"
    with pytest.raises(CommandError, match="No patient has hospital number 99999999"):
        issue("40077801", "99999999", output=str(output))
    assert not ActivationCode.objects.exists()
    assert not output.exists()


def test_a_patient_with_an_account_gets_no_code():
    PatientWithAccountFactory(hospital_number="40012345")
    with pytest.raises(CommandError, match="already have an account: 40012345"):
        issue("40012345")
    assert not ActivationCode.objects.exists()


def test_the_code_is_never_logged(captured_logs, tmp_path):  # noqa: F811
    _, stream = captured_logs
    PatientFactory(hospital_number="40077801")
    PatientFactory(hospital_number="40077802")
    printed = PRINTED.match(issue("40077801")[0].strip()).group("code")
    output = tmp_path / "letters.csv"
    issue("40077802", output=str(output))
    [row] = list(csv.DictReader(output.open(encoding="utf-8")))

    logged = stream.getvalue()
    assert "activation_codes_issued" in logged
    for code in [printed, row["activation_code"]]:
        assert code not in logged
        assert code.replace("-", "") not in logged
