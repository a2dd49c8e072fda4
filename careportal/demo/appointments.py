"""Demo appointments: SIU messages from the demo PAS, fed through the real HL7 interface, with dates relative to the
day `make run` first loads them, so that demo.patient has an upcoming appointment in person, a video appointment in
two days (its join button appears 30 minutes before it starts), a past one and a cancelled one, and Arjun (demo.parent's
son) an upcoming one.

The clinics (care team, site, directions, what to bring) are the trust's own settings (Django admin, Clinic), set
here as an administrator would. Loading twice changes nothing: once the demo appointments exist they are left as
they are (their messages carry fixed control ids, which the interface applies once).
"""

import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from careportal.appointments.models import Appointment, Clinic
from careportal.hl7.models import MessageSource
from careportal.hl7.services import message_receive
from careportal.patients.models import CareTeam

LONDON = ZoneInfo("Europe/London")

CLINICS = [
    {
        "code": "HAEMFU",
        "name": "Haematology follow-up",
        "team": "Haematology",
        "site_name": "Royal Riverside Hospital",
        "site_address": "1 River Road\nLondon\nN1 9RR",
        "directions": (
            "Come in through the main entrance on River Road. Follow the signs to Outpatients B: take the lift to "
            "level 2 and check in at the reception desk."
        ),
        "what_to_bring": (
            "A list of the medicines you take, or the medicines themselves\n"
            "Your glasses or hearing aids, if you use them\n"
            "Something to read: clinics can run late"
        ),
        "preparation": (
            "You can eat and drink as normal.\n"
            "If you need a blood test before the appointment, we will have told you in your letter: arrive 30 minutes "
            "early for it."
        ),
        "phone": "020 7946 0100",
    },
    {
        "code": "CUROFU",
        "name": "Children's urology clinic",
        "team": "Children's Urology",
        "site_name": "Royal Riverside Children's Hospital",
        "site_address": "3 River Road\nLondon\nN1 9RR",
        "directions": "The children's outpatients department is on the ground floor, to the left of the main entrance.",
        "what_to_bring": "Your child's red book (personal child health record)\nA drink and a snack",
        "preparation": "Your child may be asked for a urine sample: bring them with a full bladder if you can.",
        "phone": "020 7946 0200",
    },
]

MSH = "MSH|^~\\&|PAS|RRV|CAREPORTAL|RRV|{sent}||SIU^{event}|{control_id}|P|2.5|||AL|NE|GBR|UNICODE UTF-8"
SCH = (
    "SCH|{appointment}^PAS|{appointment}^PAS||||{reason}|FOLLOWUP^Follow-up^LOCAL|{kind}|{minutes}|MIN"
    "|^^{minutes}^{start}^{end}|||||{clinician}||||||||||Booked"
)
ELEANOR = "PID|1||40012345^^^RRV^MR~9990000018^^^NHS^NH||HARGREAVES^ELEANOR^MAY^^MRS||19580314|F"
ARJUN = "PID|1||40055512^^^RRV^MR~9990000034^^^NHS^NH||PATEL^ARJUN^^^||20150607|M"
OKAFOR = "C1234567^OKAFOR^CHIDI^^^DR"
SHAH = "C2223334^SHAH^MEERA^^^DR"

HAEM_CLINIC = "HAEMFU^Haematology follow-up^LOCAL"
HAEM_ROOM = "^Room 4^^RRV^^^Outpatients B^Level 2^Haematology clinic"
VIDEO_ROOM = "^^^VIRTUAL^^^^^Video clinic"
CURO_CLINIC = "CUROFU^Children's urology clinic^LOCAL"
CURO_ROOM = "^Room 2^^RRV^^^Children's outpatients^Ground floor^Children's urology clinic"
IN_PERSON = "OUTPT^Outpatient^LOCAL"
VIDEO = "VIDEO^Video consultation^LOCAL"

# (appointment id, patient PID, clinic, location AIL-3, kind SCH-8, clinician, days from today, time, minutes,
#  cancelled)
APPOINTMENTS = [
    ("DEMO-APT-1", ELEANOR, HAEM_CLINIC, HAEM_ROOM, IN_PERSON, OKAFOR, 12, datetime.time(10, 30), 20, False),
    ("DEMO-APT-2", ELEANOR, HAEM_CLINIC, VIDEO_ROOM, VIDEO, OKAFOR, 2, datetime.time(14, 0), 30, False),
    ("DEMO-APT-3", ELEANOR, HAEM_CLINIC, HAEM_ROOM, IN_PERSON, OKAFOR, -30, datetime.time(9, 15), 20, False),
    ("DEMO-APT-4", ELEANOR, HAEM_CLINIC, HAEM_ROOM, IN_PERSON, OKAFOR, 20, datetime.time(11, 0), 20, True),
    ("DEMO-APT-5", ARJUN, CURO_CLINIC, CURO_ROOM, IN_PERSON, SHAH, 9, datetime.time(11, 0), 30, False),
]


def _ts(value: datetime.datetime) -> str:
    return value.astimezone(LONDON).strftime("%Y%m%d%H%M")


def _message(*, event: str, control_id: str, sent: datetime.datetime, row: tuple, reason: str = "") -> bytes:  # type: ignore[type-arg]
    appointment, pid, clinic, location, kind, clinician, offset, at, minutes, _ = row
    day = timezone.localdate() + datetime.timedelta(days=offset)
    start = datetime.datetime.combine(day, at, tzinfo=LONDON)
    end = start + datetime.timedelta(minutes=minutes)
    segments = [
        MSH.format(sent=_ts(sent) + "00", event=event, control_id=control_id),
        SCH.format(
            appointment=appointment,
            reason=reason,
            kind=kind,
            minutes=minutes,
            start=_ts(start),
            end=_ts(end),
            clinician=clinician,
        ),
        pid,
        "RGS|1|A",
        f"AIS|1|A|{clinic}|{_ts(start)}|||{minutes}|MIN",
        f"AIL|1|A|{location}||||{minutes}|MIN",
        f"AIP|1|A|{clinician}|CONS^Consultant|||{_ts(start)}|||{minutes}|MIN",
    ]
    return ("\r".join(segments) + "\r").encode()


def demo_clinics_load() -> None:
    for clinic in CLINICS:
        team = CareTeam.objects.filter(name=clinic["team"]).first()
        fields = {key: value for key, value in clinic.items() if key not in ("code", "team")}
        Clinic.objects.get_or_create(code=clinic["code"], defaults={**fields, "care_team": team})


def demo_appointments_load() -> dict[str, int]:
    """The demo PAS's SIU messages through the HL7 interface; nothing when the demo appointments exist."""
    if Appointment.objects.filter(source_system="PAS", external_id__startswith="DEMO-APT-").exists():
        return {"appointments": 0}
    demo_clinics_load()
    now = timezone.now()
    for n, row in enumerate(APPOINTMENTS, start=1):
        offset = row[6]
        # Booked a few weeks before the appointment (and never in the future)
        booked_at = min(now, now + datetime.timedelta(days=offset - 21)) - datetime.timedelta(minutes=5)
        raw = _message(event="S12", control_id=f"DEMOSIU{n:02d}A", sent=booked_at, row=row)
        message_receive(raw, peer="demo data", source=MessageSource.IMPORT)
        if row[9]:
            cancel = _message(
                event="S15",
                control_id=f"DEMOSIU{n:02d}B",
                sent=now - datetime.timedelta(minutes=1),
                row=row,
                reason="CLINCANC^Clinic cancelled^LOCAL",
            )
            message_receive(cancel, peer="demo data", source=MessageSource.IMPORT)
    return {"appointments": Appointment.objects.filter(external_id__startswith="DEMO-APT-").count()}
