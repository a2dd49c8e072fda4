"""An appointment as an iCalendar file (RFC 5545) for the patient to add to their own calendar.

- METHOD:PUBLISH, one VEVENT, with a VTIMEZONE for the trust's time zone (TIME_ZONE, Europe/London) and DTSTART and
  DTEND in local time with that TZID, so that calendars show the right time on either side of a clock change;
- UID is the appointment's public id, so a newer download replaces the older entry; SEQUENCE is the appointment's
  own change counter (time, place or status), so that calendars take the newer copy;
- SUMMARY is "Hospital appointment", whatever the clinic: a calendar is often shared or shown on a lock screen.
  LOCATION is the hospital site (or "Telephone" / "Video"), the DESCRIPTION a link to the page for the details. A
  video appointment's join link is never in the file: the patient joins from the page;
- a cancelled appointment is STATUS:CANCELLED, so that importing it again clears the entry.
"""

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event

from careportal.appointments.models import Appointment, AppointmentKind, AppointmentStatus

SUMMARY = "Hospital appointment"
PRODID = "-//CarePortal//Appointments//EN"


def _location(appointment: Appointment) -> str:
    if appointment.kind == AppointmentKind.TELEPHONE:
        return "Telephone appointment: we will call you"
    if appointment.kind == AppointmentKind.VIDEO:
        return "Video appointment: join from CarePortal"
    clinic = appointment.clinic
    parts = []
    if clinic is not None and clinic.site_name:
        parts.append(clinic.site_name)
    if clinic is not None and clinic.site_address:
        parts += [line.strip() for line in clinic.site_address.splitlines() if line.strip()]
    return ", ".join(parts)


def appointment_ics(appointment: Appointment, *, page_url: str, now: datetime.datetime | None = None) -> bytes:
    """The .ics file for one appointment (already resolved through the access layer). `page_url` is the absolute
    address of its page in CarePortal."""
    zone = ZoneInfo(settings.TIME_ZONE)
    now = now or timezone.now()
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{appointment.public_id}@careportal")
    event.add("dtstamp", now.astimezone(datetime.UTC))
    event.add("dtstart", appointment.start.astimezone(zone))
    event.add("dtend", appointment.end.astimezone(zone))
    event.add("sequence", appointment.sequence)
    event.add("summary", SUMMARY)
    location = _location(appointment)
    if location:
        event.add("location", location)
    event.add("description", f"See the details, or ask to change it, in {settings.CAREPORTAL_SERVICE_NAME}: {page_url}")
    event.add("url", page_url)
    cancelled = appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.ENTERED_IN_ERROR)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
