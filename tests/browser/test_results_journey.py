"""Test results end to end: every sample HL7 message sent over a real socket to a running MLLP listener, each ACK
checked, the release job run, then the results read in the browser by the patient and by a parent.

This is issue 5's test: "every sample HL7 file (tests/hl7/samples/) sent over a real socket to a running listener,
with the ACK checked and the result then read on the patient's page in the browser". The rejected messages
(tests/hl7/samples/bad/) go over the same socket and wait for staff in the unmatched queue
(test_results_staff_journey.py).

Every page opened here is checked with axe-core (WCAG 2.2 A and AA) by `portal` (see portal.py).
"""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from careportal.hl7.models import InboundMessage, MessageStatus
from careportal.results.models import DiagnosticReport
from tests.browser.steps import (
    HL7_SAMPLE_ORDER,
    HL7_SAMPLES,
    given_a_running_hl7_listener,
    given_the_demo_trust_is_loaded,
    given_the_installed_release_rules_and_bank_holidays,
    hl7_sample,
    when_the_release_job_runs,
    when_they_sign_in,
)
from tests.hl7.mllp_client import ack_code, control_id

pytestmark = pytest.mark.browser

LONDON = ZoneInfo("Europe/London")
# After every sample's release date (the last, the urine culture, is due on Thursday 5 November 2026 at 07:00).
RELEASE_JOB_RUNS_AT = datetime.datetime(2026, 11, 9, 9, 0, tzinfo=LONDON)

# What the listener answers to each rejected sample: AR when it cannot be read, AE when it cannot be applied.
BAD_SAMPLES = {
    "bad/no_msh.hl7": "AR",
    "bad/truncated.hl7": "AR",
    "bad/unknown_patient.hl7": "AE",
    "bad/invalid_nhs_number.hl7": "AE",
}


def a_range(low: int, high: int) -> re.Pattern[str]:
    """A reference range as shown: the page keeps "115-165" on one line with invisible word joiners (U+2060)."""
    return re.compile(rf"\b{low}\u2060?-\u2060?{high}\b")


def given_every_sample_message_was_sent_to_the_listener() -> None:
    assert sorted(HL7_SAMPLE_ORDER) == sorted(p.name for p in HL7_SAMPLES.glob("*.hl7")), "a sample is not sent"
    with given_a_running_hl7_listener() as listener, listener.client() as client:
        for name in HL7_SAMPLE_ORDER:
            raw = hl7_sample(name)
            # Then each is acknowledged AA (MSA-1) for its own control id (MSA-2), after it was stored
            assert ack_code(client.request(raw)) == ("AA", control_id(raw)), name


@pytest.mark.every_database
def test_every_sample_message_over_mllp_is_then_read_in_the_browser(portal):
    page = portal.page

    # Given the demo trust is loaded with the release rules CarePortal installs (a lab result after 1 working day,
    # histology only after a clinician's review), and every sample message has been sent to a running listener
    given_the_demo_trust_is_loaded()
    given_the_installed_release_rules_and_bank_holidays()
    given_every_sample_message_was_sent_to_the_listener()

    # Then results, appointments and letters were applied
    statuses = dict(InboundMessage.objects.values_list("control_id", "status"))
    for name in HL7_SAMPLE_ORDER:
        expected = MessageStatus.APPLIED
        assert statuses[control_id(hl7_sample(name))] == expected, name

    # When the release job runs after the reports' release dates
    when_the_release_job_runs(now=RELEASE_JOB_RUNS_AT)

    # Then the lab reports are released, and the histology report, which waits for a clinician, is not
    released = dict(DiagnosticReport.objects.values_list("test_name", "released_at"))
    assert released["Full blood count"] is not None
    assert released["Urea and electrolytes"] is not None
    assert released["Urine culture"] is not None
    assert released["Histopathology"] is None

    # When the demo patient signs in and opens their test results from the home page
    when_they_sign_in(portal, username="demo.patient")
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="Test results"))

    # Then they see both reports, the corrected one marked as amended
    expect(page.get_by_role("heading", level=1)).to_have_text("Test results")
    results = page.get_by_role("list", name="Test results, newest first")
    fbc = results.get_by_role("listitem").filter(has=page.get_by_role("link", name="Full blood count"))
    expect(fbc).to_contain_text("Ready")
    ue = results.get_by_role("listitem").filter(has=page.get_by_role("link", name="Urea and electrolytes"))
    expect(ue).to_contain_text("Amended")
    expect(results).not_to_contain_text("Histopathology")

    # When they open the full blood count
    portal.click_and_wait(results.get_by_role("link", name="Full blood count"))

    # Then each value has its unit, range, and where it sits against the range in words and a symbol
    expect(page.get_by_role("heading", level=1)).to_have_text("Full blood count")
    values = page.get_by_role("table", name="Results")
    haemoglobin = values.get_by_role("row").filter(has_text="Haemoglobin")
    expect(haemoglobin).to_contain_text("98 g/L")
    expect(haemoglobin).to_contain_text(a_range(115, 165))
    expect(haemoglobin).to_contain_text("↓ Below range")
    platelets = values.get_by_role("row").filter(has_text="Platelets")
    expect(platelets).to_contain_text("412 10⁹/L")
    expect(platelets).to_contain_text(a_range(150, 400))
    expect(platelets).to_contain_text("↑ Above range")
    expect(values.get_by_role("row").filter(has_text="White cell count")).to_contain_text("✓ Within range")
    # And the symbol is for the eye only: a screen reader reads the words
    expect(haemoglobin.locator(".careportal-result-symbol")).to_have_attribute("aria-hidden", "true")
    # And the lab's comment
    expect(page.get_by_role("main")).to_contain_text(
        "Microcytic picture. Suggest iron studies if not already requested."
    )

    # When they open the haemoglobin trend from its row
    portal.click_and_wait(haemoglobin.get_by_role("link", name="See Haemoglobin over time"))

    # Then they see a chart and the same data as a table
    expect(page.get_by_role("heading", level=1)).to_have_text("Haemoglobin over time")
    expect(page.locator("figure svg")).to_be_visible()
    trend_table = page.get_by_role("table", name=re.compile("Haemoglobin results"))
    expect(trend_table.get_by_role("row").filter(has_text="98 g/L")).to_contain_text("Below range")

    # When they go back to their results and open the urea and electrolytes
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="See all test results"))
    portal.click_and_wait(page.get_by_role("link", name="Urea and electrolytes"))

    # Then they see the corrected potassium, and are told the report was corrected
    expect(page.get_by_role("heading", level=1)).to_have_text("Urea and electrolytes")
    main = page.get_by_role("main")
    expect(main).to_contain_text("The lab corrected this report")
    values = page.get_by_role("table", name="Results")
    potassium = values.get_by_role("row").filter(has_text="Potassium")
    expect(potassium).to_contain_text("4.6 mmol/L")
    expect(potassium).to_contain_text("Within range")
    # And a value given as a limit keeps its sign
    expect(values.get_by_role("row").filter(has_text="eGFR")).to_contain_text(">90")
    expect(main).to_contain_text("Amended report: potassium repeated on a fresh sample.")

    # And the earlier version is inside a details component, closed until they open it
    earlier = page.locator("details").filter(has_text="See the earlier version")
    expect(earlier).to_have_count(1)
    earlier_potassium = earlier.get_by_role("row").filter(has_text="Potassium")
    expect(earlier_potassium).to_be_hidden()
    earlier.locator("summary").click()
    expect(earlier_potassium).to_contain_text("6.1 mmol/L")
    expect(earlier_potassium).to_contain_text("Far above range")
    # And the escape sequence \T\ in the earlier lab comment reads as "&"
    expect(earlier).to_contain_text("haemolysis&delayed separation")

    # When they open their details
    portal.click_and_wait(page.get_by_role("navigation", name="Menu").get_by_role("link", name="Details"))

    # Then the address is the one the hospital's PAS sent in the A31 message
    expect(page.get_by_role("heading", level=1)).to_have_text("Your details")
    expect(page.get_by_role("main")).to_contain_text("3 Elm Court")
    expect(page.get_by_role("main")).not_to_contain_text("12 Cranbrook Road")

    # And they sign out
    portal.click_and_wait(page.get_by_role("banner").get_by_role("button", name="Sign out"))

    # When the demo parent signs in (they act for their son Arjun) and opens his test results
    when_they_sign_in(portal, username="demo.parent")
    expect(page.get_by_role("heading", level=1)).to_have_text("Arjun Patel")
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="Test results"))
    expect(page.get_by_role("main")).to_contain_text("Arjun Patel")

    # Then they see the urine culture, and open it
    portal.click_and_wait(page.get_by_role("link", name="Urine culture"))

    # Then it is the final report: repeated values on their own lines, escape sequences decoded
    expect(page.get_by_role("heading", level=1)).to_have_text("Urine culture")
    main = page.get_by_role("main")
    expect(main).to_contain_text("Arjun Patel's record")
    expect(main).to_contain_text("Escherichia coli >10^8 cfu/L")
    expect(main).to_contain_text("White cells >100 x10^6/L")
    sensitivities = main.locator("p").filter(has_text="Nitrofurantoin")
    expect(sensitivities).to_have_text("Nitrofurantoin S\nTrimethoprim R\nCefalexin S", use_inner_text=True)
    # And nothing of the preliminary report
    expect(main).not_to_contain_text("Culture in progress")
    expect(main).not_to_contain_text("has not finished")


def test_rejected_messages_over_mllp_are_answered_and_kept_for_staff(portal):
    # Given the demo trust is loaded, with its release rules, and a listener is running
    given_the_demo_trust_is_loaded()
    given_the_installed_release_rules_and_bank_holidays()
    with given_a_running_hl7_listener() as listener, listener.client() as client:
        # When each rejected sample is sent over one connection
        for name, expected in BAD_SAMPLES.items():
            raw = hl7_sample(name)
            code, acknowledged = ack_code(client.request(raw))

            # Then each gets AR (cannot be read) or AE (cannot be applied), naming the control id it could read
            assert code == expected, name
            if name in {"bad/unknown_patient.hl7", "bad/invalid_nhs_number.hl7"}:
                assert acknowledged == control_id(raw), name

        # And the same connection still applies a good message
        fbc = hl7_sample("oru_r01_fbc_final.hl7")
        assert ack_code(client.request(fbc)) == ("AA", control_id(fbc))

    # And every rejected message is kept as received, waiting for staff
    kept = InboundMessage.objects.exclude(control_id=control_id(fbc))
    assert sorted(bytes(m.raw) for m in kept) == sorted(hl7_sample(name) for name in BAD_SAMPLES)
    assert {m.status for m in kept} == {MessageStatus.REJECTED, MessageStatus.ERROR}
    assert all(m.needs_attention for m in kept)

    # And a patient whose message was rejected sees nothing from it: only the good full blood count is listed
    when_the_release_job_runs(now=RELEASE_JOB_RUNS_AT)
    when_they_sign_in(portal, username="demo.patient")
    portal.goto("/test-results/")
    results = portal.page.get_by_role("list", name="Test results, newest first")
    expect(results.get_by_role("listitem")).to_have_count(1)
    expect(results.get_by_role("listitem")).to_contain_text("Full blood count")
    expect(results.get_by_role("listitem")).to_contain_text("Ready")
