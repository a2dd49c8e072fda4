"""SIU messages as the PAS sends them, built for the tests: the sample's layout (tests/hl7/samples/siu_s12_video.hl7)
with the event, times, ids and kind the test needs."""

import datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

# Eleanor Hargreaves, as in the samples.
HOSPITAL_NUMBER = "40012345"
NHS_NUMBER = "9990000018"


def hl7_time(value: datetime.datetime) -> str:
    return value.astimezone(LONDON).strftime("%Y%m%d%H%M%S")


def siu(
    event: str,
    *,
    appointment_id: str = "APT-1001",
    start: datetime.datetime,
    minutes: int = 30,
    sent_at: datetime.datetime,
    control_id: str | None = None,
    kind_code: str = "OUTPT^Outpatient^LOCAL",
    clinic: str = "HAEMFU^Haematology follow-up^LOCAL",
    location: str = "^Room 4^^RRV^^^Outpatients B^Level 2^Haematology clinic",
    hospital_number: str = HOSPITAL_NUMBER,
    nhs_number: str = NHS_NUMBER,
    reason: str = "",
    include_pid: bool = True,
) -> bytes:
    end = start + datetime.timedelta(minutes=minutes)
    sent = hl7_time(sent_at)
    control_id = control_id or f"T{event}{sent}{appointment_id}"
    timing = f"^^{minutes}^{hl7_time(start)[:12]}^{hl7_time(end)[:12]}"
    segments = [
        f"MSH|^~\\&|PAS|RRV|CAREPORTAL|RRV|{sent}||SIU^{event}|{control_id}|P|2.5|||AL|NE|GBR|UNICODE UTF-8",
        f"SCH|{appointment_id}^PAS|{appointment_id}^PAS||||{reason}|FOLLOWUP^Follow-up^LOCAL|{kind_code}|{minutes}|MIN"
        f"|{timing}|||||C1234567^OKAFOR^CHIDI^^^DR||||||||||Booked",
    ]
    if include_pid:
        segments.append(
            f"PID|1||{hospital_number}^^^RRV^MR~{nhs_number}^^^NHS^NH||HARGREAVES^ELEANOR^MAY^^MRS||19580314|F"
        )
    segments += [
        "RGS|1|A",
        f"AIS|1|A|{clinic}|{hl7_time(start)[:12]}|||{minutes}|MIN",
        f"AIL|1|A|{location}||||{minutes}|MIN",
        f"AIP|1|A|C1234567^OKAFOR^CHIDI^^^DR|CONS^Consultant|||{hl7_time(start)[:12]}|||{minutes}|MIN",
    ]
    return ("\r".join(segments) + "\r").encode()
