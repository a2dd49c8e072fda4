"""Backfill: splitting files into messages (careportal/hl7/batch.py) and `manage.py hl7_import`."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from careportal.hl7.batch import split_messages
from careportal.hl7.models import InboundMessage, MessageSource, MessageStatus
from careportal.results.models import DiagnosticReport
from tests.patients.factories import PatientFactory

SAMPLES = Path(__file__).parent / "samples"
FBC = (SAMPLES / "oru_r01_fbc_final.hl7").read_bytes()
UE = (SAMPLES / "oru_r01_ue_final.hl7").read_bytes()
HISTOLOGY = (SAMPLES / "oru_r01_histology.hl7").read_bytes()
NO_MSH = (SAMPLES / "bad" / "no_msh.hl7").read_bytes()


def with_endings(message: bytes, ending: bytes) -> bytes:
    return message.replace(b"\r", ending)


def batch_file(batches: list[list[bytes]], *, counts: list[int] | None = None, file_count: int | None = None) -> bytes:
    """An FHS/BHS batch file; BTS-1 and FTS-1 are the true counts unless given."""
    out = [b"FHS|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|20261102100000||||F0001\r"]
    for i, messages in enumerate(batches):
        out.append(b"BHS|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|20261102100000||||B%04d\r" % i)
        out += messages
        out.append(b"BTS|%d\r" % (counts[i] if counts else len(messages)))
    out.append(b"FTS|%d\r" % (file_count if file_count is not None else len(batches)))
    return b"".join(out)


# --- Splitting ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"], ids=["CR", "LF", "CRLF"])
def test_messages_one_after_another_are_split_at_each_msh_and_kept_byte_for_byte(ending: bytes) -> None:
    messages = [with_endings(m, ending) for m in (FBC, UE, HISTOLOGY)]
    result = split_messages(b"".join(messages))
    assert result.messages == messages
    assert result.problems == []


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"], ids=["CR", "LF", "CRLF"])
def test_messages_separated_by_blank_lines_are_split(ending: bytes) -> None:
    messages = [with_endings(m, ending) for m in (FBC, UE)]
    data = ending + messages[0] + ending + b"  " + ending + ending + messages[1] + ending * 3
    result = split_messages(data)
    assert result.messages == messages
    assert result.problems == []


def test_a_file_with_one_message_without_a_final_line_ending() -> None:
    assert split_messages(FBC.rstrip(b"\r")).messages == [FBC.rstrip(b"\r")]


def test_batch_wrappers_are_stripped_and_their_counts_checked() -> None:
    result = split_messages(batch_file([[FBC, UE], [HISTOLOGY]]))
    assert result.messages == [FBC, UE, HISTOLOGY]
    assert result.problems == []


def test_batch_file_with_line_feeds_and_crlf_endings() -> None:
    for ending in (b"\n", b"\r\n"):
        result = split_messages(with_endings(batch_file([[FBC, UE]]), ending))
        assert result.messages == [with_endings(FBC, ending), with_endings(UE, ending)]
        assert result.problems == []


def test_a_batch_trailer_counting_more_messages_than_the_batch_holds_is_reported() -> None:
    result = split_messages(batch_file([[FBC, UE], [HISTOLOGY]], counts=[3, 1]))
    assert result.messages == [FBC, UE, HISTOLOGY]
    assert result.problems == ["batch 1: its trailer (BTS) counts 3 messages, the file holds 2"]


def test_a_file_trailer_with_the_wrong_batch_count_is_reported() -> None:
    result = split_messages(batch_file([[FBC]], file_count=2))
    assert result.problems == ["the file trailer (FTS) counts 2 batches, the file holds 1"]


def test_a_batch_cut_short_is_reported() -> None:
    data = batch_file([[FBC, UE]])
    cut = data[: data.index(b"BTS|")]
    result = split_messages(cut)
    assert result.messages == [FBC, UE]
    assert result.problems == ["batch 1 has no trailer (BTS): the file may be cut short"]


def test_batch_trailers_without_counts_are_accepted() -> None:
    data = batch_file([[FBC]]).replace(b"BTS|1", b"BTS|").replace(b"FTS|1", b"FTS")
    assert split_messages(data).problems == []


def test_a_trailer_without_a_header_is_reported() -> None:
    result = split_messages(FBC + b"BTS|1\r")
    assert result.messages == [FBC]
    assert result.problems == ["a batch trailer (BTS) without a batch header (BHS)"]


def test_an_mllp_capture_is_split_into_its_frames() -> None:
    data = b"\x0b" + FBC + b"\x1c\r" + b"\r\n" + b"\x0b" + UE + b"\x1c\r" + b"\x0b" + HISTOLOGY + b"\x1c\r\n"
    result = split_messages(data)
    assert result.messages == [FBC, UE, HISTOLOGY]
    assert result.problems == []


def test_an_mllp_capture_with_noise_an_abandoned_frame_and_a_cut_last_frame() -> None:
    data = b"noise" + b"\x0b" + FBC[:50] + b"\x0b" + UE + b"\x1c\r" + b"\x0b" + HISTOLOGY[:100]
    result = split_messages(data)
    # The last frame is kept (staff see it, as rejected): it is what the capture holds.
    assert result.messages == [UE, HISTOLOGY[:100]]
    assert result.problems == [
        "an unfinished frame (50 bytes) skipped",
        "the last frame has no end block (100 bytes)",
        "5 bytes outside MLLP frames skipped",
    ]


def test_trailing_padding_is_dropped_and_reported() -> None:
    result = split_messages(FBC + b"\x00" * 20 + b"\x1a")
    assert result.messages == [FBC]
    assert result.problems == ["21 bytes of padding (NUL, Ctrl-Z) at the end skipped"]


def test_trailing_garbage_after_a_blank_line_is_skipped_and_reported() -> None:
    result = split_messages(FBC + b"\r" + b"this is not hl7 at all\r\x7f\x80\x81")
    assert result.messages == [FBC]
    assert result.problems == ["26 bytes that are not HL7 skipped"]


def test_segments_without_a_header_are_kept_as_a_message_for_staff_to_see() -> None:
    result = split_messages(NO_MSH + b"\r" + FBC)
    assert result.messages == [NO_MSH, FBC]
    assert result.problems == []


def test_an_empty_file_holds_nothing() -> None:
    assert split_messages(b"").messages == []
    assert split_messages(b"\r\n  \n").messages == []
    assert split_messages(b"\r\n  \n").problems == []


def test_binary_junk_yields_no_messages() -> None:
    junk = bytes(random.Random(11).randrange(256) for _ in range(4096)).replace(b"\x0b", b"")
    result = split_messages(junk)
    assert result.messages == []
    assert result.problems
    assert all("not HL7" in p or "padding" in p for p in result.problems)


# --- The command ------------------------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def demo_patients(db: None) -> None:
    for hospital_number, nhs_number in (
        ("40012345", "9990000018"),
        ("40077801", "9990000026"),
        ("40055512", "9990000034"),
    ):
        PatientFactory(hospital_number=hospital_number, nhs_number=nhs_number)


def run_import(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("hl7_import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def summary_count(output: str, label: str) -> int:
    line = next(line for line in output.splitlines() if label in line)
    return int(line.split()[-1])


@pytest.mark.usefixtures("demo_patients")
def test_a_batch_file_is_imported_and_summarised(tmp_path: Path) -> None:
    path = tmp_path / "backfill.hl7"
    path.write_bytes(batch_file([[FBC, UE], [HISTOLOGY]]))
    out, err = run_import(str(path))
    assert "3 messages from 1 file(s)" in out
    assert summary_count(out, "applied") == 3
    assert summary_count(out, "rejected") == 0
    assert err == ""
    stored = InboundMessage.objects.filter(source=MessageSource.IMPORT, peer=str(path))
    assert sorted(stored.values_list("status", flat=True)) == [MessageStatus.APPLIED] * 3
    assert DiagnosticReport.objects.count() == 3


@pytest.mark.usefixtures("demo_patients")
def test_importing_the_same_file_again_counts_duplicates_and_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "fbc.hl7"
    path.write_bytes(FBC)
    run_import(str(path), "--no-progress")
    out, _ = run_import(str(path), "--no-progress")
    assert summary_count(out, "applied") == 0
    assert summary_count(out, "duplicates") == 1
    assert DiagnosticReport.objects.count() == 1


@pytest.mark.usefixtures("demo_patients")
def test_rejected_and_unmatched_messages_make_the_import_fail(tmp_path: Path) -> None:
    path = tmp_path / "mixed.hl7"
    bad = SAMPLES / "bad"
    path.write_bytes(b"\r".join([FBC, (bad / "no_msh.hl7").read_bytes(), (bad / "unknown_patient.hl7").read_bytes()]))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("hl7_import", str(path), stdout=out, stderr=err)
    assert raised.value.returncode == 1
    assert "1 rejected" in str(raised.value)
    assert "1 waiting for staff" in str(raised.value)
    assert summary_count(out.getvalue(), "applied") == 1
    assert summary_count(out.getvalue(), "unmatched queue") == 1
    assert summary_count(out.getvalue(), "rejected") == 1


@pytest.mark.usefixtures("demo_patients")
def test_a_batch_count_mismatch_is_reported_and_fails_the_import(tmp_path: Path) -> None:
    path = tmp_path / "short.hl7"
    path.write_bytes(batch_file([[FBC]], counts=[2]))
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("hl7_import", str(path), stdout=io.StringIO(), stderr=err)
    assert "1 problem with the files" in str(raised.value)
    assert f"Problem: {path}: batch 1: its trailer (BTS) counts 2 messages, the file holds 1" in err.getvalue()
    assert DiagnosticReport.objects.count() == 1


@pytest.mark.django_db
def test_a_missing_file_stops_the_import_before_anything_is_imported(tmp_path: Path) -> None:
    present = tmp_path / "present.hl7"
    present.write_bytes(FBC)
    with pytest.raises(CommandError) as raised:
        run_import(str(present), str(tmp_path / "absent.hl7"))
    assert raised.value.returncode == 2
    assert "absent.hl7" in str(raised.value)
    assert not InboundMessage.objects.exists()


@pytest.mark.django_db
def test_an_empty_file_and_a_binary_file_are_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty.hl7"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(2048)).replace(b"\x0b", b""))
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("hl7_import", str(empty), str(junk), stdout=io.StringIO(), stderr=err)
    assert raised.value.returncode == 1
    assert f"Problem: {empty}: empty" in err.getvalue()
    assert f"Problem: {junk}: no HL7 messages found" in err.getvalue()
    assert not InboundMessage.objects.exists()


@pytest.mark.usefixtures("demo_patients")
def test_a_progress_bar_is_drawn_on_a_terminal_and_not_with_no_progress(tmp_path: Path) -> None:
    path = tmp_path / "two.hl7"
    path.write_bytes(FBC + UE)
    terminal = FakeTerminal()
    call_command("hl7_import", str(path), stdout=io.StringIO(), stderr=terminal)
    assert "Importing" in terminal.getvalue()
    assert "2/2" in terminal.getvalue()
    # No newline added by Django's output wrapper between redraws, and no error colouring.
    assert "\x1b[31" not in terminal.getvalue()

    quiet = FakeTerminal()
    call_command("hl7_import", str(path), "--no-progress", stdout=io.StringIO(), stderr=quiet)
    assert quiet.getvalue() == ""
