"""Demo test results: the sample lab messages of tests/hl7/samples/, fed through the real HL7 interface, plus a year of
earlier full blood counts for demo.patient so that the trend page has something to draw.

Loading twice changes nothing: every message keeps its control id, and the interface applies a control id once.

Release times. Every report arrives today, but its release rule counts from the lab's own report time (OBR-22), so
the earlier blood counts were due a working day after each was taken, months ago. Releasing them all "now" would
date every one to the day `make run` ran. Instead the loader runs the real release job once for each due time, in
order, with that time as the job's clock (`results_release_due(now=...)`, the argument the job already takes): each
report is released, its "released automatically" history written and its notice queued exactly as the scheduler
would have done had CarePortal been running then. Nothing is written to the reports afterwards, and no clock is
faked: the audit trail and the notifications are the job's own. Reports due later than now wait for the scheduler,
and review-only ones for a clinician, as in real life.
"""

import datetime
from pathlib import Path

from django.utils import timezone

from careportal.core.working_days import bank_holidays, is_working_day
from careportal.hl7.models import InboundMessage, MessageSource, MessageStatus
from careportal.hl7.services import message_receive

MESSAGES_DIR = Path(__file__).resolve().parent / "hl7"
# In the order a lab would have sent them: each preliminary before its final, each report before its correction.
SAMPLE_FILES = [
    "oru_r01_fbc_final.hl7",
    "oru_r01_ue_final.hl7",
    "oru_r01_ue_corrected.hl7",
    "oru_r01_histology.hl7",
    "oru_r01_micro_prelim.hl7",
    "oru_r01_micro_final.hl7",
]
# Haemoglobin (g/L) of demo.patient's earlier full blood counts, oldest first, each about two months apart, the
# last about two months before the sample full blood count (taken on 2 November 2026).
EARLIER_HAEMOGLOBIN = [128, 121, 117, 109, 103]
SAMPLE_FBC_TAKEN = datetime.date(2026, 11, 2)

EARLIER_FBC_TEMPLATE = "\r".join(
    [
        "MSH|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|{ts}||ORU^R01|DEMOFBC{n:03d}|P|2.4|||AL|NE|GBR|UNICODE UTF-8",
        "PID|1||40012345^^^RRV^MR~9990000018^^^NHS^NH||HARGREAVES^ELEANOR^MAY^^MRS||19580314|F",
        "PV1|1|O|HAEM^^^RRV||||C1234567^OKAFOR^CHIDI^^^DR|||HAEM",
        "ORC|RE|OE-DEMO{n:03d}|26HDEMO{n:03d}||CM",
        "OBR|1|OE-DEMO{n:03d}|26HDEMO{n:03d}|FBC^Full blood count^WINPATH|||{taken}|||||||{taken}|BLOOD^Venous blood"
        "|C1234567^OKAFOR^CHIDI^^^DR||||||{ts}||HM|F",
        "OBX|1|NM|HB^Haemoglobin^WINPATH||{hb}|g/L|115-165|{hb_flag}|||F|||{taken}",
        "OBX|2|NM|WBC^White cell count^WINPATH||{wbc}|10*9/L|4.0-11.0|N|||F|||{taken}",
        "OBX|3|NM|PLT^Platelets^WINPATH||{plt}|10*9/L|150-400|N|||F|||{taken}",
        "",
    ]
)


def _earlier_fbc_messages(before: datetime.date) -> list[bytes]:
    messages = []
    count = len(EARLIER_HAEMOGLOBIN)
    closed = bank_holidays(on_or_after=before - datetime.timedelta(days=61 * (count + 1)))
    for n, hb in enumerate(EARLIER_HAEMOGLOBIN, start=1):
        taken = before - datetime.timedelta(days=61 * (count - n + 1))
        while not is_working_day(taken, holidays=closed):  # clinics take blood on working days
            taken -= datetime.timedelta(days=1)
        text = EARLIER_FBC_TEMPLATE.format(
            n=n,
            ts=f"{taken:%Y%m%d}1200",
            taken=f"{taken:%Y%m%d}0830",
            hb=hb,
            hb_flag="L" if hb < 115 else "N",
            wbc=f"{6.1 + n * 0.2:.1f}",
            plt=310 + n * 12,
        )
        messages.append(text.encode())
    return messages


def _release_at_each_due_time(*, until: datetime.datetime) -> int:
    """Run the release job as the scheduler would have, at each due time up to `until`, oldest first."""
    from careportal.results.release_job import reports_due_for_release, results_release_due

    released = 0
    while True:
        due = reports_due_for_release(now=until).order_by("release_due_at").values_list("release_due_at", flat=True)
        next_due = due.first()
        if next_due is None:
            return released
        released += results_release_due(now=next_due)


def demo_results_load() -> dict[str, int]:
    """Feed the demo messages through the HL7 interface, then release whatever the rules made due by now, each at
    the time it fell due."""
    from careportal.demo.services import demo_interfaces_load

    # The batch import path: checked by sender and message type (no network peer), like `manage.py hl7_import`.
    demo_interfaces_load()
    applied_before = InboundMessage.objects.filter(status=MessageStatus.APPLIED).count()
    raw_messages = _earlier_fbc_messages(SAMPLE_FBC_TAKEN)
    raw_messages += [(MESSAGES_DIR / name).read_bytes() for name in SAMPLE_FILES]
    for raw in raw_messages:
        message_receive(raw, peer="demo data", source=MessageSource.IMPORT)
    applied = InboundMessage.objects.filter(status=MessageStatus.APPLIED).count() - applied_before
    return {"applied": applied, "released": _release_at_each_due_time(until=timezone.now())}
