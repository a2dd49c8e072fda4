"""Download my record end to end: the demo patient asks for a copy from the home page, watches the progress page
while a worker makes it, and downloads both files: a PDF summary that names her and a FHIR Bundle that validates.
Every page opened is checked with axe-core by `portal`.
"""

import io
import json
import tempfile
from pathlib import Path

import pikepdf
import pytest
from fhir.resources.R4B.bundle import Bundle
from playwright.sync_api import expect

from careportal.fhir.export_services import record_export_build
from careportal.fhir.models import RecordExport
from tests.browser.steps import given_the_demo_trust_is_loaded, when_they_sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(tempfile.gettempdir()) / "careportal-download-record-journey"


@pytest.fixture(autouse=True)
def private_files(settings, tmp_path):
    settings.LETTER_ROOT = tmp_path / "letters"


@pytest.fixture
def a_worker_that_waits(settings):
    """Copies wait in the queue (as with a real worker busy elsewhere) until the test runs the task itself."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}


def screenshot(portal, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    portal.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def pdf_text(data: bytes) -> str:
    words = []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            for operands, operator in pikepdf.parse_content_stream(page):
                if str(operator) == "Tj":
                    words.append(bytes(operands[0]).decode("latin-1"))
    return "\n".join(words)


def test_the_patient_asks_for_a_copy_watches_it_being_made_and_downloads_both_files(portal, a_worker_that_waits):
    page = portal.page

    # Given the demo trust, and Eleanor (demo.patient) signed in
    given_the_demo_trust_is_loaded()
    when_they_sign_in(portal, username="demo.patient")

    # When she opens "Download a copy of your record" from her home page
    portal.click_and_wait(page.get_by_role("main").get_by_role("link", name="Download a copy of your record"))

    # Then the page says what the copy holds and how long it is kept
    expect(page.get_by_role("heading", level=1)).to_have_text("Download a copy of your record")
    main = page.get_by_role("main")
    expect(main).to_contain_text("test results that have been released")
    expect(main).to_contain_text("The files can be downloaded for 7 days")
    screenshot(portal, "start")

    # When she asks for a copy
    portal.click_and_wait(main.get_by_role("button", name="Ask for a copy"))

    # Then she sees it waiting, with the step and the percentage
    expect(page.get_by_role("heading", level=1)).to_have_text("Making your copy")
    expect(main).to_contain_text("Waiting to start")
    expect(main).to_contain_text("0% done")
    screenshot(portal, "progress")

    # When a worker makes it, the page (polling by itself) shows it ready, without her doing anything
    export = RecordExport.objects.get()
    assert record_export_build(export_id=export.pk) == "ready"
    expect(page.get_by_role("heading", level=1)).to_have_text("Your copy is ready", timeout=15_000)
    page.wait_for_load_state("load")
    portal.check()
    screenshot(portal, "ready")
    page.set_viewport_size({"width": 320, "height": 900})
    screenshot(portal, "ready-320")
    page.set_viewport_size({"width": 1280, "height": 900})

    # And she downloads the summary: a PDF that names her and her results
    with page.expect_download() as download_info:
        main.get_by_role("link", name="Download the summary (PDF").click()
    pdf = Path(download_info.value.path()).read_bytes()
    text = pdf_text(pdf)
    assert "Eleanor" in text and "Date of birth" in text
    assert "Test results" in text and "Who has viewed your record" in text

    # And the file for health apps: a FHIR Bundle of her record
    with page.expect_download() as download_info:
        main.get_by_role("link", name="Download the file for health apps (FHIR JSON").click()
    assert download_info.value.suggested_filename.endswith(".json")
    bundle = json.loads(Path(download_info.value.path()).read_bytes())
    assert Bundle.model_validate(bundle).type == "collection"
    assert bundle["entry"][0]["resource"]["name"][0]["given"] == ["Eleanor"]
    export.refresh_from_db()
    assert export.downloaded_at is not None
