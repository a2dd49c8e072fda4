"""Screenshots of the patient, parent and staff pages at desktop width (1280 px) and at 320 px, for a person to look
at.

    uv run python scripts/screenshots.py [--out test-artifacts/screenshots]

It loads the demo trust into a fresh SQLite file under var/, feeds the sample HL7 messages (tests/hl7/samples/)
through the HL7 interface and runs the release job, so that the test results pages show each state a patient can
meet (ready, amended, waiting, waiting for a clinician, withdrawn). It writes message threads through the messaging
services: the demo conversation with an unread reply, a correction request with a photo and an internal note, an
overdue question, a parent's message for their child, and a few urgent-page interceptions. It serves the portal
in-process with the development settings (Django's live-server thread, static files from the finders, as `make run`
serves them), signs in as demo.patient, demo.parent, demo.clinician and a trust administrator through the real
sign-in form (staff with the emailed code, read from the in-memory outbox) in Debian's Chromium, and saves one
full-page PNG per page and width. For each page it also reports what a reviewer should look at first: content wider
than the screen, stylesheets or scripts that failed to load, browser console errors and axe-core WCAG 2.2 A/AA
violations. The exit status is 1 when any page has such a problem.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BASE_DIR))

WIDTHS = {"desktop": 1280, "320px": 320}


@dataclass
class Shot:
    name: str
    path: str
    status: int = 200
    # what to do on the page before the screenshot: "wrong-password", "compose-choose" (first compose page:
    # Haematology, a question about my care, Continue), "urgent" (then write about chest pain and send),
    # "find-patient" (staff: find Eleanor by hospital number)
    before: str | None = None
    setup: Callable[[], None] | None = None  # run in the database before the page is opened


@dataclass
class Report:
    problems: dict[str, list[str]] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)

    def add(self, key: str, problem: str) -> None:
        from tests.browser.portal import KNOWN_PROBLEMS, is_known_problem

        if is_known_problem(problem):
            # Explained in tests/browser/portal.py; listed once at the end rather than on every page.
            self.known.update(reason for fragment, reason in KNOWN_PROBLEMS.items() if fragment in problem)
        else:
            self.problems.setdefault(key, []).append(problem)


SIGNED_OUT = [
    Shot("start", "/"),
    Shot("sign-in", "/sign-in/"),
    Shot("sign-in-error", "/sign-in/", before="wrong-password"),
    Shot("page-not-found", "/no-such-page/", status=404),
]
PATIENT = [
    Shot("home", "/home/"),
    Shot("your-details", "/your-details/"),
    Shot("who-has-viewed-your-record", "/who-has-viewed-your-record/"),
    Shot("get-help", "/get-help/"),
    Shot("accessibility", "/accessibility/"),
    Shot("privacy", "/privacy/"),
    Shot("start-signed-in", "/"),
]
PARENT = [
    Shot("home", "/home/"),
    Shot("their-details", "/your-details/"),
    Shot("who-has-viewed-your-record", "/who-has-viewed-your-record/", status=404),
]
ADMIN_USERNAME = "screenshots.admin"
ADMIN_PASSWORD = "Screenshots-admin-1"  # noqa: S105 - an account in a throwaway screenshots database

# The sample messages, in the order a hospital's systems would send them (tests/hl7/samples/README.md).
HL7_SAMPLES = BASE_DIR / "tests" / "hl7" / "samples"
SAMPLE_ORDER = [
    "adt_a31_address.hl7",
    "oru_r01_fbc_final.hl7",
    "oru_r01_ue_final.hl7",
    "oru_r01_ue_corrected.hl7",
    "oru_r01_histology.hl7",
    "oru_r01_micro_prelim.hl7",
    "oru_r01_micro_final.hl7",
    "siu_s12_video.hl7",
    "siu_s15_cancel.hl7",
    "mdm_t02_letter.hl7",
]
# A cancer marker, which the installed rules release only after a clinician has reviewed it.
CA125 = "\r".join(
    [
        "MSH|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|{stamp}||ORU^R01|SHOTCA125|P|2.4|||AL|NE|GBR|UNICODE UTF-8",
        "PID|1||40012345^^^RRV^MR~9990000018^^^NHS^NH||HARGREAVES^ELEANOR^MAY^^MRS||19580314|F",
        "PV1|1|O|HAEM^^^RRV||||C1234567^OKAFOR^CHIDI^^^DR|||HAEM",
        "ORC|RE|OE-SHOTCA125|26CSHOTCA125||CM",
        "OBR|1|OE-SHOTCA125|26CSHOTCA125|CA125^CA 125^WINPATH|||{stamp}|||||||{stamp}|BLOOD^Venous blood"
        "|C1234567^OKAFOR^CHIDI^^^DR||||||{stamp}||CH|F",
        "OBX|1|NM|CA125^CA 125^WINPATH||21|kU/L|0-35|N|||F",
        "",
    ]
)
BAD_SAMPLES = ["bad/no_msh.hl7", "bad/unknown_patient.hl7", "bad/invalid_nhs_number.hl7", "bad/truncated.hl7"]


def prepare_database(db_file: Path) -> None:
    """A fresh SQLite file with the demo trust, using the development settings."""
    db_file.parent.mkdir(parents=True, exist_ok=True)
    for stale in db_file.parent.glob(db_file.name + "*"):
        stale.unlink()
    os.environ["DATABASE_URL"] = f"sqlite:///{db_file}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careportal.config.settings.base")
    # Staff sign in with a code sent by email: kept in memory (django.core.mail.outbox), sent at once.
    os.environ["EMAIL_URL"] = "memorymail://"
    os.environ["TASKS_BACKEND"] = "django_tasks.backends.immediate.ImmediateBackend"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Message attachments beside the throwaway database, never in the development folder; no virus scanner.
    attachments = db_file.parent / "screenshots-attachments"
    shutil.rmtree(attachments, ignore_errors=True)
    os.environ["MESSAGE_ATTACHMENT_ROOT"] = str(attachments)
    os.environ["CLAMAV_SOCKET"] = os.environ["CLAMAV_HOST"] = ""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from careportal.demo.services import demo_trust_load

    call_command("migrate", verbosity=0, interactive=False)
    demo_trust_load()
    load_results()
    load_messages()
    # whitenoise warns about a missing STATIC_ROOT even when, as here, it serves from the finders.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


def _sample(name: str, **changes: str) -> bytes:
    """A sample message, optionally as another message: MSH-10 control id, ORC/OBR order numbers, the time the
    sample was taken (OBR-7/OBR-14) and reported (OBR-22), and OBX values with their flags by code (`HB="131|N"`)."""
    raw = (HL7_SAMPLES / name).read_bytes()
    if not changes:
        return raw
    segments = []
    for segment in raw.rstrip(b"\r").split(b"\r"):
        fields = segment.decode().split("|")
        if fields[0] == "MSH" and "control_id" in changes:
            fields[9] = changes["control_id"]
        elif fields[0] in ("ORC", "OBR") and "order" in changes:
            fields[2], fields[3] = f"OE-{changes['order']}", changes["order"]
        if fields[0] == "OBR":
            if "taken" in changes:
                fields[7] = fields[14] = changes["taken"]
            if "reported" in changes:
                fields[22] = changes["reported"]
        if fields[0] == "OBX":
            code = fields[3].split("^")[0]
            if code in changes:
                fields[5], fields[8] = changes[code].split("|") if "|" in changes[code] else (changes[code], "N")
        segments.append("|".join(fields))
    return ("\r".join(segments) + "\r").encode()


def load_results() -> None:
    """Test results in every state a patient can see, fed through the HL7 interface as a lab would send them."""
    import datetime

    from allauth.account.models import EmailAddress
    from django.utils import timezone

    from careportal.access.layer import ActorRole, Viewer
    from careportal.access.scopes import ALL_SCOPES, CLINICIAN_SCOPES
    from careportal.accounts.models import TwoStepMethod, User
    from careportal.hl7.models import MessageSource
    from careportal.hl7.services import message_receive
    from careportal.patients.models import Patient
    from careportal.results import review_services
    from careportal.results.models import DiagnosticReport
    from careportal.results.preference_services import result_preferences_update
    from careportal.results.release_job import results_release_due

    def receive(raw: bytes) -> None:
        message_receive(raw, peer="screenshots", source=MessageSource.IMPORT)

    today = timezone.localdate()
    # Three earlier full blood counts for demo.patient, about two months apart, so that the trend has a line.
    for n, (hb, flag) in enumerate([("131", "N"), ("118", "N"), ("104", "L")], start=1):
        taken = today - datetime.timedelta(days=61 * (5 - n))
        stamp = f"{taken:%Y%m%d}0830"
        receive(
            _sample(
                "oru_r01_fbc_final.hl7",
                control_id=f"SHOTFBC{n}",
                order=f"26HSHOT{n}",
                taken=stamp,
                reported=stamp,
                HB=f"{hb}|{flag}",
            )
        )
    for name in SAMPLE_ORDER:
        receive(_sample(name))
    results_release_due(now=timezone.now())

    # Not released yet: a full blood count taken this morning (due on the next working day) and a CA 125, which is
    # released only by a clinician; and one released, then withdrawn.
    now_stamp = f"{timezone.localtime():%Y%m%d%H%M}"
    receive(
        _sample(
            "oru_r01_fbc_final.hl7", control_id="SHOTFBCNEW", order="26HSHOTNEW", taken=now_stamp, reported=now_stamp
        )
    )
    receive(CA125.format(stamp=now_stamp).encode())
    clinician = User.objects.get(username="demo.clinician")
    as_clinician = Viewer(user=clinician, role=ActorRole.CLINICIAN, scopes=CLINICIAN_SCOPES)
    ue = DiagnosticReport.objects.get(filler_order_number="26C0912210")
    review_services.report_comment_set(
        viewer=as_clinician,
        report=ue,
        comment="Your kidney tests are fine. The first potassium reading was wrong because the blood sample was "
        "damaged on its way to the lab; the repeat is normal.\nYou do not need to do anything.",
    )
    withdrawn = DiagnosticReport.objects.get(filler_order_number="26HSHOT1")
    review_services.report_retract(viewer=as_clinician, report=withdrawn, reason="Sample labelled for another patient")

    # demo.patient waits for a clinician for cancer markers and histology.
    eleanor = Patient.objects.get(hospital_number="40012345")
    result_preferences_update(
        viewer=Viewer(user=eleanor.user, role=ActorRole.PATIENT, patient=eleanor, scopes=ALL_SCOPES),
        wait_for_kinds=["cancer_markers", "histology"],
    )

    # Messages the interface could not apply, for the staff queue.
    for name in BAD_SAMPLES:
        receive(_sample(name))

    # A trust administrator: the HL7 queue and the release rules are theirs.
    admin = User.objects.create_superuser(
        username=ADMIN_USERNAME,
        email="screenshots.admin@example.nhs.uk",
        password=ADMIN_PASSWORD,
        display_name="Alex Morgan",
        two_step_method=TwoStepMethod.EMAIL,
    )
    EmailAddress.objects.create(user=admin, email=admin.email, verified=True, primary=True)


MESSAGE_SUBJECTS = {
    "correction": "My weight is wrong",
    "overdue": "Can I move my appointment?",
    "parent": "Night-time wetting",
}


def load_messages() -> None:
    """Message threads in the states the pages show, written through the messaging services as the pages write
    them: the demo conversation (an unread reply for Eleanor), a correction request with a photo, an internal note
    and a history, a question the team has not answered in time (overdue), a parent's message for their child, and
    a few urgent-page interceptions for the phrase list."""
    import datetime

    import time_machine
    from django.utils import timezone

    from careportal.access.layer import Viewer, patient_choices
    from careportal.access.scopes import CLINICIAN_SCOPES
    from careportal.accounts.models import User
    from careportal.audit.models import ActorRole
    from careportal.demo.messages import demo_messages_load
    from careportal.messaging import services
    from careportal.messaging.attachments import attachments_clean
    from careportal.messaging.models import AuthorRole, CorrectionStatus, Topic, UrgentPhrase
    from careportal.patients.models import CareTeam
    from tests.messaging.files import png, upload

    def patient_side(username: str) -> Viewer:
        user = User.objects.get(username=username)
        choice = patient_choices(user)[0]
        return Viewer(
            user=user,
            role=choice.role,
            patient=choice.patient,
            scopes=choice.scopes,
            proxy_relationship=choice.relationship,
        )

    eleanor = patient_side("demo.patient")
    okafor = Viewer(user=User.objects.get(username="demo.clinician"), role=ActorRole.CLINICIAN, scopes=CLINICIAN_SCOPES)
    haematology = CareTeam.objects.get(name="Haematology")

    # Written eight days ago and not answered: overdue against Haematology's 3 working days.
    with time_machine.travel(timezone.now() - datetime.timedelta(days=8), tick=True):
        services.thread_start_by_patient(
            viewer=eleanor,
            care_team=haematology,
            topic=Topic.APPOINTMENT,
            subject=MESSAGE_SUBJECTS["overdue"],
            body="My next appointment is on a Tuesday morning, when I look after my grandson. Could it be on a "
            "Thursday instead?",
            files=[],
        )

    demo_messages_load()

    correction = services.thread_start_by_patient(
        viewer=eleanor,
        care_team=haematology,
        topic=Topic.CORRECTION,
        subject=MESSAGE_SUBJECTS["correction"],
        body="My record says I weigh 92 kg. I weigh 62 kg: I think the numbers were swapped.\n\n"
        "I have attached a photo of my bathroom scales.",
        files=attachments_clean([upload("bathroom scales.png", png(240, 160), "image/png")]),
    )
    services.thread_note_by_staff(
        viewer=okafor,
        thread=correction,
        body="Clinic weight on 3 March was 62.4 kg. Looks like a typing error at the last appointment.",
    )
    services.correction_status_set(
        viewer=okafor, correction=correction.correction_request, status=CorrectionStatus.UNDER_REVIEW, note=""
    )
    services.correction_status_set(
        viewer=okafor,
        correction=correction.correction_request,
        status=CorrectionStatus.CORRECTED,
        note="We have changed your weight on your record to 62 kg. Thank you for telling us.",
    )
    services.thread_reply_by_staff(
        viewer=okafor,
        thread=correction,
        body="Thank you for the photo. You were right: your weight was typed wrongly at your last appointment. "
        "We have corrected it.",
        files=[],
    )

    services.thread_start_by_patient(
        viewer=patient_side("demo.parent"),
        care_team=CareTeam.objects.get(name="Children's Urology"),
        topic=Topic.CARE,
        subject=MESSAGE_SUBJECTS["parent"],
        body="Arjun has been wetting the bed again this week, after three dry months. Is that expected?",
        files=[],
    )

    for phrase, sent_anyway in [("chest pain", True), ("chest pain", False), ("short of breath", True)]:
        interception = services.urgent_interception_record(
            phrase=UrgentPhrase.objects.get(phrase=phrase), care_team=haematology, author_role=AuthorRole.PATIENT
        )
        if sent_anyway:
            services.urgent_interception_sent_anyway(interception_id=interception.pk)


def messages_shots() -> tuple[list[Shot], list[Shot], list[Shot], list[Shot]]:
    """The messages pages, by the threads load_messages() wrote: patient, parent, clinician, administrator."""
    from careportal.demo.messages import DEMO_SUBJECT
    from careportal.messaging.models import ReadMarker, Thread

    def thread(subject: str) -> str:
        return str(Thread.objects.get(subject=subject).public_id)

    def demo_reply_unread() -> None:
        # Opening a thread marks it read: each width's list shows the demo reply as new again. Run while
        # Playwright's dispatcher loop counts as "running" in this thread: an ordinary blocking query is safe
        # here (as tests/browser/conftest.py explains), so Django's async guard is lifted for it.
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        ReadMarker.objects.filter(thread__subject=DEMO_SUBJECT, user__username="demo.patient").delete()

    correction = thread(MESSAGE_SUBJECTS["correction"])
    patient = [
        Shot("messages", "/messages/", setup=demo_reply_unread),
        Shot("messages-compose", "/messages/new/"),
        Shot("messages-compose-write", "/messages/new/", before="compose-choose"),
        Shot("messages-urgent", "/messages/new/", before="urgent"),
        Shot("messages-thread-correction", f"/messages/{correction}/"),
        Shot("messages-thread-reply", f"/messages/{thread(DEMO_SUBJECT)}/"),
    ]
    parent = [
        Shot("messages", "/messages/"),
        # The acknowledgement, for a message the team has not answered yet: it names the date they aim to reply by.
        Shot("messages-sent", f"/messages/{thread(MESSAGE_SUBJECTS['parent'])}/sent/"),
        Shot("messages-thread", f"/messages/{thread(MESSAGE_SUBJECTS['parent'])}/"),
    ]
    clinician = [
        Shot("messages-inbox", "/staff/messages/"),
        Shot("messages-inbox-waiting", "/staff/messages/?show=waiting"),
        Shot("messages-inbox-thread-correction", f"/staff/messages/{correction}/"),
        Shot("messages-inbox-thread-overdue", f"/staff/messages/{thread(MESSAGE_SUBJECTS['overdue'])}/"),
        Shot("messages-inbox-start", "/staff/messages/new/", before="find-patient"),
    ]
    admin = [Shot("urgent-phrases", "/staff/messages/urgent-phrases/")]
    return patient, parent, clinician, admin


def results_shots() -> tuple[list[Shot], list[Shot], list[Shot], list[Shot]]:
    """The results pages, by the ids load_results() gave them: patient, parent, clinician, administrator."""
    from careportal.hl7.models import InboundMessage
    from careportal.results.models import DiagnosticReport

    def report(order: str) -> str:
        return str(DiagnosticReport.objects.get(filler_order_number=order).public_id)

    unknown = InboundMessage.objects.get(control_id="WP20261102099999")
    unreadable = InboundMessage.objects.filter(control_id="").first()
    patient = [
        Shot("test-results", "/test-results/"),
        Shot("test-result-fbc", f"/test-results/{report('26H0456781')}/"),
        Shot("test-result-amended", f"/test-results/{report('26C0912210')}/"),
        Shot("test-result-withdrawn", f"/test-results/{report('26HSHOT1')}/"),
        Shot("test-result-waiting", f"/test-results/{report('26CSHOTCA125')}/"),
        Shot("test-results-trend", "/test-results/trend/HB/"),
        Shot("wait-for-my-clinician", "/test-results/wait-for-my-clinician/"),
    ]
    parent = [
        Shot("test-results", "/test-results/"),
        Shot("test-result-urine-culture", f"/test-results/{report('26M0334510')}/"),
        Shot("wait-for-my-clinician", "/test-results/wait-for-my-clinician/"),
    ]
    clinician = [
        Shot("staff-home", "/staff/"),
        Shot("results-inbox", "/staff/results/"),
        Shot("results-inbox-amended", f"/staff/results/report/{report('26C0912210')}/"),
        Shot("results-inbox-fbc", f"/staff/results/report/{report('26H0456781')}/"),
    ]
    admin = [
        Shot("release-rules", "/staff/results/rules/"),
        Shot("release-rule-default", "/staff/results/rules/{default_rule}/"),
        Shot("bank-holidays", "/staff/results/bank-holidays/"),
        Shot("hl7-unmatched", "/staff/hl7/unmatched/"),
        Shot("hl7-messages", "/staff/hl7/messages/"),
        Shot("hl7-interfaces", "/staff/hl7/interfaces/"),
        Shot("hl7-message-unknown-patient", f"/staff/hl7/message/{unknown.public_id}/"),
    ]
    if unreadable is not None:
        admin.append(Shot("hl7-message-unreadable", f"/staff/hl7/message/{unreadable.public_id}/"))
    from careportal.results.models import ReleaseRule

    default_rule = ReleaseRule.objects.get(test_code="", category="")
    admin = [Shot(s.name, s.path.replace("{default_rule}", str(default_rule.pk)), s.status) for s in admin]
    return patient, parent, clinician, admin


def start_server():  # type: ignore[no-untyped-def]
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    thread = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    return thread


def overflow_report(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Elements that stick out past the right edge of the screen (the page then scrolls sideways)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= width) return [];
          const out = [];
          for (const el of document.body.querySelectorAll('*')) {
            const box = el.getBoundingClientRect();
            if (box.width && box.right > width + 1) {
              const name = el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
                ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
              out.push(`${name} reaches ${Math.round(box.right)}px (screen ${width}px)`);
            }
          }
          return out.slice(0, 10);
        }"""
    )


def sign_in(page, who: str, password: str) -> None:  # type: ignore[no-untyped-def]
    """Through the sign-in form; staff also enter the code emailed to them and do not trust the device."""
    import re

    from django.core import mail

    mail.outbox = []
    page.goto("/sign-in/")
    page.get_by_label("Username").fill(who)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("main").get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")
    if page.get_by_label("Sign-in code").count():
        code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body)
        if code is None:
            raise RuntimeError(f"no sign-in code in the email to {who}")
        page.get_by_label("Sign-in code").fill(code.group(1))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_load_state("load")
        page.get_by_role("button", name="Do not trust this device").click()
        page.wait_for_load_state("load")


def capture(  # type: ignore[no-untyped-def]
    browser, base_url: str, out: Path, who: str | None, shots: list[Shot], report: Report, password: str = ""
) -> None:
    from careportal.demo.data import DEMO_PASSWORD
    from tests.browser.axe import axe_violations, describe_violations

    for label, width in WIDTHS.items():
        context = browser.new_context(
            base_url=base_url,
            viewport={"width": width, "height": 900 if width > 600 else 640},
            is_mobile=width < 600,
            has_touch=width < 600,
            locale="en-GB",
            timezone_id="Europe/London",
        )
        page = context.new_page()
        console: list[str] = []
        page.on(
            "console",
            lambda m, console=console: (
                m.type == "error"
                and not m.text.startswith("Failed to load resource")  # each failed asset is reported below
                and console.append(m.text)
            ),
        )
        page.on(
            "response",
            lambda r, console=console: (
                r.status >= 400
                and not r.request.is_navigation_request()
                and console.append(f"{r.request.resource_type} {r.url} answered {r.status}")
            ),
        )
        if who:
            sign_in(page, who, password or DEMO_PASSWORD)
        for shot in shots:
            console.clear()
            if shot.setup is not None:
                shot.setup()
            response = page.goto(shot.path, wait_until="load")
            key = f"{who or 'signed-out'}/{shot.name} at {label}"
            if response is None or response.status != shot.status:
                report.add(key, f"answered {response.status if response else 'nothing'}, expected {shot.status}")
            if shot.before == "wrong-password":
                page.get_by_label("Username").fill("demo.patient")
                page.get_by_label("Password", exact=True).fill("not-the-password")
                page.get_by_role("main").get_by_role("button", name="Sign in").click()
                page.wait_for_load_state("load")
            if shot.before in ("compose-choose", "urgent"):
                page.get_by_role("radio", name="Haematology").check()
                page.get_by_role("radio", name="A question about my care").check()
                page.get_by_role("button", name="Continue").click()
                page.wait_for_load_state("load")
            if shot.before == "urgent":
                page.get_by_label("Your message").fill("I have had chest pain since this morning")
                page.get_by_role("button", name="Send message").click()
                page.wait_for_load_state("load")
            if shot.before == "find-patient":
                page.get_by_label("Hospital number").fill("40012345")
                page.get_by_role("button", name="Find the patient").click()
                page.wait_for_load_state("load")
            page.evaluate("document.fonts.ready")
            file = out / f"{who or 'signed-out'}--{shot.name}--{label}.png"
            page.screenshot(path=str(file), full_page=True)
            for problem in overflow_report(page):
                report.add(key, f"overflow: {problem}")
            for line in console:
                report.add(key, f"browser: {line}")
            violations = axe_violations(page)
            if violations:
                report.add(key, describe_violations(violations, where=shot.path))
            print(f"  {file.relative_to(BASE_DIR) if file.is_relative_to(BASE_DIR) else file}")
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BASE_DIR / "test-artifacts" / "screenshots")
    parser.add_argument("--database", type=Path, default=BASE_DIR / "var" / "screenshots.sqlite3")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()

    prepare_database(args.database.resolve())
    server = start_server()
    base_url = f"http://{server.host}:{server.port}"
    print(f"Serving the demo trust at {base_url}; screenshots go to {out}")

    from playwright.sync_api import sync_playwright

    from tests.browser.chromium import CHROMIUM_ARGS, chromium_path

    results_patient, results_parent, results_clinician, results_admin = results_shots()
    messages_patient, messages_parent, messages_clinician, messages_admin = messages_shots()
    report = Report()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            capture(browser, base_url, out, None, SIGNED_OUT, report)
            capture(browser, base_url, out, "demo.patient", PATIENT + results_patient + messages_patient, report)
            capture(browser, base_url, out, "demo.parent", PARENT + results_parent + messages_parent, report)
            capture(browser, base_url, out, "demo.clinician", results_clinician + messages_clinician, report)
            capture(
                browser,
                base_url,
                out,
                ADMIN_USERNAME,
                results_admin + messages_admin,
                report,
                password=ADMIN_PASSWORD,
            )
            browser.close()
    finally:
        server.terminate()

    for reason in sorted(report.known):
        print(f"Known problem on every page (see KNOWN_PROBLEMS in tests/browser/portal.py): {reason}")
    if not report.problems:
        print("No overflow, failed assets, console errors or axe violations on any page.")
        return 0
    print("\nWhat to look at:")
    for key, problems in report.problems.items():
        print(f"- {key}")
        for problem in problems:
            print("    " + problem.replace("\n", "\n    "))
    return 1


if __name__ == "__main__":
    sys.exit(main())
