"""`manage.py letters_import`: the same checks and service as HL7, a clear error for each bad input, exit codes and a
summary, and nothing half-written."""

import datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command

from careportal.letters.models import Letter, LetterSource
from tests.letters.helpers import make_pdf, sha256, stored_letter
from tests.patients.factories import CareTeamFactory, PatientFactory

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 9, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def patient():
    return PatientFactory(hospital_number="40077801")


@pytest.fixture
def team():
    return CareTeamFactory(name="Dermatology")


def run(*args: str, capture) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    import io

    out, err = io.StringIO(), io.StringIO()
    with capture(execute=True):
        call_command("letters_import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def base_args(*files) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        "--hospital-number", "40077801", "--team", "dermatology", "--type", "Clinic letter", "--date", "2026-11-06",
        "--author", "Dr A Shah", *map(str, files),
    ]  # fmt: skip


def test_letters_are_imported_for_the_patient_and_team(patient, team, tmp_path, capture):
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    first.write_bytes(make_pdf(pages=1))
    second.write_bytes(make_pdf(pages=2))

    out, _ = run(*base_args(first, second), capture=capture)

    assert "Letters: 2 imported." in out
    letters = Letter.objects.order_by("page_count")
    assert [(x.patient, x.care_team, x.source, x.author) for x in letters] == [
        (patient, team, LetterSource.IMPORT, "Dr A Shah")
    ] * 2
    assert letters[0].letter_date.date() == datetime.date(2026, 11, 6)
    assert sha256(stored_letter(letters[1])) == letters[1].sha256
    assert letters[0].delivery == "post", "no account: the letter is posted"


def test_importing_the_same_file_twice_adds_it_once(patient, team, tmp_path, capture):
    path = tmp_path / "a.pdf"
    path.write_bytes(make_pdf())
    run(*base_args(path), capture=capture)

    out, _ = run(*base_args(path), capture=capture)

    assert "a.pdf: already imported; nothing changed" in out
    assert Letter.objects.count() == 1


def test_a_bad_file_is_refused_and_the_others_imported(patient, team, tmp_path, capture):
    good, text, locked = tmp_path / "good.pdf", tmp_path / "text.pdf", tmp_path / "locked.pdf"
    good.write_bytes(make_pdf())
    text.write_bytes(b"Dear patient, this is not a PDF")
    locked.write_bytes(make_pdf(password="secret"))
    missing = tmp_path / "missing.pdf"

    with pytest.raises(CommandError) as failed:
        run(*base_args(good, text, locked, missing), capture=capture)

    assert failed.value.returncode == 1
    assert Letter.objects.count() == 1
    assert not [p for p in (tmp_path / "private").rglob("*.pdf") if "incoming" in p.parts]


def test_the_errors_say_which_file_and_why(patient, team, tmp_path, capture, capsys):
    text = tmp_path / "text.pdf"
    text.write_bytes(b"Dear patient")
    import io

    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("letters_import", *base_args(text), stderr=err, stdout=io.StringIO())

    assert "text.pdf: not imported: the document is not a PDF" in err.getvalue()
    assert "Letters: 1 refused." in err.getvalue()


def test_an_oversized_file_is_refused_before_it_is_read(patient, team, tmp_path, capture, settings):
    path = tmp_path / "big.pdf"
    path.write_bytes(make_pdf())
    settings.LETTER_MAX_BYTES = 10
    import io

    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("letters_import", *base_args(path), stderr=err, stdout=io.StringIO())

    assert "big.pdf: not imported: the document is larger than 0 KB" in err.getvalue()
    assert not Letter.objects.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--hospital-number": "99999999"}, "No patient has this hospital number"),
        ({"--team": "Cardiology"}, "No active care team has this name. Care teams: Dermatology"),
        ({"--date": "6/11/2026"}, "--date must be a date written as YYYY-MM-DD, like 2026-11-06"),
        ({"--date": "2026-12-01"}, "--date must not be in the future"),
        ({"--type": "  "}, "--type must not be empty"),
    ],
)
def test_wrong_arguments_import_nothing_and_exit_2(change, message, patient, team, tmp_path, capture):
    path = tmp_path / "a.pdf"
    path.write_bytes(make_pdf())
    args = base_args(path)
    for option, value in change.items():
        args[args.index(option) + 1] = value

    with pytest.raises(CommandError) as failed:
        run(*args, capture=capture)

    assert str(failed.value) == message
    assert failed.value.returncode == 2
    assert not Letter.objects.exists()


def test_a_document_id_names_one_file_only(patient, team, tmp_path, capture):
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    first.write_bytes(make_pdf())
    second.write_bytes(make_pdf(pages=2))

    with pytest.raises(CommandError) as failed:
        run(*base_args(first, second), "--document-id", "EDM-1", capture=capture)

    assert failed.value.returncode == 2


def test_a_document_id_lets_a_new_version_replace_the_old(patient, team, tmp_path, capture):
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    first.write_bytes(make_pdf())
    second.write_bytes(make_pdf(pages=2))
    run(*base_args(first), "--document-id", "EDM-1", capture=capture)

    with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
        out, _ = run(*base_args(second), "--document-id", "EDM-1", capture=capture)

    assert "imported as a new version" in out
    letter = Letter.objects.get()
    assert (letter.version, letter.page_count) == (2, 2)
