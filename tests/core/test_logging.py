"""No patient data in any log line: a patient's whole visit, and a server error, logged at DEBUG from every logger.

The logs are captured through the project's own formatter (careportal.core.logging), in both of its formats, with
every logger turned up to DEBUG, so that this sees everything an operator with LOG_LEVEL=DEBUG would.
"""

import datetime
import io
import json
import logging
import logging.config

import pytest
import structlog
from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from careportal.config import urls as project_urls
from careportal.core.logging import (
    build_logging_config,
    drop_query_string,
    drop_secret_path_segments,
    format_exception_without_data,
)
from careportal.patients.models import Patient
from tests.accounts.factories import TEST_PASSWORD
from tests.patients.factories import PatientWithAccountFactory, nhs_number_for

pytestmark = pytest.mark.django_db


# A URLconf for these tests: the project's pages plus two that fail with the signed-in patient's data in the error.


def fails_with_patient_data(request: HttpRequest) -> HttpResponse:
    patient = request.user.patient  # type: ignore[union-attr]
    raise ValueError(f"could not process {patient.full_name}, NHS number {patient.nhs_number}")


def fails_in_the_database(request: HttpRequest) -> HttpResponse:
    patient = request.user.patient  # type: ignore[union-attr]
    # A duplicate NHS number: PostgreSQL's error quotes the value ("Key (nhs_number)=(...) already exists").
    with transaction.atomic():
        Patient.objects.create(
            hospital_number="DUPLICATE1", nhs_number=patient.nhs_number, given_name="A", family_name="B",
            birth_date=datetime.date(2000, 1, 1),
        )  # fmt: skip
    return HttpResponse("unreachable")


urlpatterns = [
    path("fails/", fails_with_patient_data),
    path("fails-in-the-database/", fails_in_the_database),
    *project_urls.urlpatterns,
]
handler404 = project_urls.handler404
handler500 = project_urls.handler500


@pytest.fixture
def patient() -> Patient:
    # Distinctive values, so that finding one in the logs cannot be a coincidence.
    return PatientWithAccountFactory(
        given_name="Zebedee",
        family_name="Quarrington",
        nhs_number=nhs_number_for(4242),
        hospital_number="RX7731942",
        email="zebedee.quarrington@example.net",
        mobile_phone="07700 900982",
        home_phone="020 7946 0321",
        address_line_1="17 Wisteria Crescent",
        postcode="SW1A 2AA",
        birth_date=datetime.date(1958, 2, 11),
    )


def patient_identifiers(patient: Patient) -> list[str]:
    nhs = patient.nhs_number or ""
    return [
        patient.given_name,
        patient.family_name,
        nhs,
        f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}",
        patient.hospital_number,
        patient.email,
        patient.mobile_phone,
        patient.mobile_phone.replace(" ", ""),
        patient.home_phone,
        patient.home_phone.replace(" ", ""),
        patient.address_line_1,
        patient.postcode,
        patient.postcode.replace(" ", ""),
        patient.birth_date.isoformat(),
        f"{patient.birth_date:%d/%m/%Y}",
        "11 February 1958",
    ]


@pytest.fixture(params=["json", "console"])
def captured_logs(request):
    """Everything logged, by every logger at DEBUG, rendered by the project's formatter in the given format."""
    log_format = request.param
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    levels = {logger: logger.level for logger in loggers if isinstance(logger, logging.Logger)}
    logging.config.dictConfig(build_logging_config(level="DEBUG", log_format=log_format))
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        if isinstance(logger, logging.Logger):
            logger.setLevel(logging.DEBUG)
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(root.handlers[0].formatter)
    root.handlers = [handler]
    yield log_format, stream
    logging.config.dictConfig(settings.LOGGING)
    for logger, level in levels.items():
        logger.setLevel(level)


def json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def sign_in(client: Client, patient: Patient) -> None:
    response = client.post("/sign-in/", {"login": patient.user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302


def test_a_patients_visit_logs_no_patient_data_and_tags_every_request_line(patient, captured_logs):
    log_format, stream = captured_logs
    nhs = patient.nhs_number
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 (test)")

    assert client.get("/").status_code == 200
    sign_in(client, patient)
    for page in ["/home/", "/your-details/", "/who-has-viewed-your-record/", "/get-help/", "/"]:
        assert client.get(page).status_code == 200, page
    assert client.get("/who-has-viewed-your-record/?page=2&x=SECRET").status_code == 200
    # Query strings could carry anything a browser sent: here, the patient's own details.
    assert client.get(f"/your-details/?nhs={nhs}&name={patient.family_name}").status_code == 200
    assert client.get(f"/no-such-page/?q={nhs}&x=SECRET").status_code == 404
    assert client.get(f"/sign-in/?next=/your-details/%3Fnhs%3D{nhs}").status_code == 302
    assert client.post("/sign-out/").status_code == 302

    output = stream.getvalue()
    assert "request_started" in output
    assert "request_finished" in output
    for value in [*patient_identifiers(patient), "SECRET", TEST_PASSWORD]:
        assert value not in output, f"{value!r} was logged"
    assert "?[redacted]" in output

    if log_format == "json":
        lines = json_lines(output)
        request_lines = [line for line in lines if line["event"] in {"request_started", "request_finished"}]
        assert len(request_lines) >= 2 * 12
        assert all(line.get("request_id") for line in request_lines)
        started = [line["request_id"] for line in request_lines if line["event"] == "request_started"]
        finished = [line["request_id"] for line in request_lines if line["event"] == "request_finished"]
        assert started == finished
        assert len(set(started)) == len(started), "each request has its own id"
        # Every line written while a request is handled carries its id. The one exception is Django's own
        # "Not Found" warning, written after the request middleware has finished: the project's configuration
        # keeps django.request at ERROR, so it is only seen here, where every logger is turned up to DEBUG.
        without_id = [line for line in lines if "request_id" not in line and line["logger"] != "factory.generate"]
        assert [(line["logger"], line["level"]) for line in without_id] == [("django.request", "warning")]
        assert settings.LOGGING["loggers"]["django.request"]["level"] == "ERROR"
    else:
        request_lines = [line for line in output.splitlines() if "request_started" in line]
        assert request_lines
        assert all("request_id=" in line for line in request_lines)


@pytest.mark.parametrize("url", ["/fails/?nhs={nhs}", "/fails-in-the-database/"])
@pytest.mark.urls(__name__)
def test_server_error_shows_and_logs_no_patient_data_or_exception_text(patient, captured_logs, url):
    log_format, stream = captured_logs
    client = Client(raise_request_exception=False)
    sign_in(client, patient)

    response = client.get(url.format(nhs=patient.nhs_number))

    assert response.status_code == 500
    page = response.content.decode()
    assert "Sorry, there is a problem with the service" in page
    for text in ["Traceback", "ValueError", "IntegrityError", "could not process", "nhs_number", "UNIQUE"]:
        assert text not in page
    output = stream.getvalue()
    for value in patient_identifiers(patient):
        assert value not in page
        assert value not in output, f"{value!r} was logged"
    # Operators still get the traceback and the type of the error, with the request's id.
    assert "Traceback (most recent call last)" in output
    assert "[message withheld" in output
    if log_format == "json":
        failed = [line for line in json_lines(output) if line["event"] == "request_failed"]
        assert len(failed) == 1
        assert failed[0]["request_id"]
        assert "Error: [message withheld" in failed[0]["exception"]
        internal_error = [line for line in json_lines(output) if line["event"].startswith("Internal Server Error")]
        assert [line["request_id"] for line in internal_error] == [failed[0]["request_id"]]


# The processors on their own.


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_our_lines_are_rendered_from_their_one_record_and_a_plain_handler_sees_the_event_name(
    captured_logs, monkeypatch
):
    log_format, stream = captured_logs
    plain = Records()
    logging.getLogger().addHandler(plain)

    def copy_refused(_attributes: dict) -> logging.LogRecord:
        raise AssertionError("the record was copied to be rendered")

    # structlog's ProcessorFormatter copies each record before rendering it: a second LogRecord for every line.
    with monkeypatch.context() as patched:
        patched.setattr(logging, "makeLogRecord", copy_refused)
        structlog.get_logger("careportal.tests").info("thing_happened", count=3, email="someone@example.net")
        structlog.get_logger("careportal.tests").debug("detail_noted", step=1)
    logging.getLogger().removeHandler(plain)

    output = stream.getvalue()
    if log_format == "json":
        lines = [line for line in json_lines(output) if line["logger"] == "careportal.tests"]
        assert [(line["event"], line["level"]) for line in lines] == [
            ("thing_happened", "info"),
            ("detail_noted", "debug"),
        ]
        assert lines[0]["count"] == 3 and lines[0]["email"] == "[redacted]" and lines[0]["timestamp"]
    else:
        assert "thing_happened" in output and "count=3" in output and "detail_noted" in output
    assert "someone@example.net" not in output
    assert [record.getMessage() for record in plain.records if record.name == "careportal.tests"] == [
        "thing_happened",
        "detail_noted",
    ]


def test_a_line_below_its_loggers_level_is_dropped_before_any_processor_runs(monkeypatch):
    seen: list[str] = []

    def spy(_logger: object, _method: str, event_dict: dict) -> dict:
        seen.append(event_dict["event"])
        return event_dict

    logging.config.dictConfig(build_logging_config(level="WARNING", log_format="json"))
    processors = structlog.get_config()["processors"]
    try:
        # A processor just after the level check records what gets past it.
        structlog.configure(processors=[processors[0], spy, *processors[1:]])
        logger = structlog.get_logger("careportal.tests.quiet")
        logger.info("not_shown")
        logger.warning("shown")
    finally:
        structlog.configure(processors=processors)
        logging.config.dictConfig(settings.LOGGING)
    assert seen == ["shown"]


def test_query_strings_are_cut_from_urls_in_any_logged_value():
    event = {
        "event": '"GET /your-details/?nhs=9990001236 HTTP/1.1" 200 512',
        "request": "GET /who-has-viewed-your-record/?page=2&x=SECRET",
        "referer": "https://portal.example.nhs.uk/sign-in/?next=/home/",
        "code": 200,
        "note": "Is this a question? Yes.",
    }
    assert drop_query_string(None, "info", event) == {
        "event": '"GET /your-details/?[redacted] HTTP/1.1" 200 512',
        "request": "GET /who-has-viewed-your-record/?[redacted]",
        "referer": "https://portal.example.nhs.uk/sign-in/?[redacted]",
        "code": 200,
        "note": "Is this a question? Yes.",
    }


def test_the_tokens_of_single_use_links_are_cut_from_paths_in_any_logged_value():
    event = {
        "request": "GET /access-for-others/invitations/abc_DEF-123/",
        "event": '"GET /your-details/email/confirm/tok3n HTTP/1.1" 302 0',
        "other": "/access-for-others/invitation/",
    }
    assert drop_secret_path_segments(None, "info", event) == {
        "request": "GET /access-for-others/invitations/[redacted]/",
        "event": '"GET /your-details/email/confirm/[redacted] HTTP/1.1" 302 0',
        "other": "/access-for-others/invitation/",
    }


def test_exceptions_keep_their_traceback_and_type_but_not_their_message():
    nhs = nhs_number_for(77)  # not written out here: a traceback quotes source lines, which are not data
    try:
        try:
            raise KeyError(nhs)
        except KeyError as error:
            raise IntegrityError(f"Key (nhs_number)=({nhs}) already exists.") from error
    except IntegrityError as error:
        text = format_exception_without_data((type(error), error, error.__traceback__))
    assert nhs not in text
    assert "raise KeyError(nhs)" in text
    assert text.count("Traceback (most recent call last):") == 2
    assert "builtins.KeyError: [message withheld" in text
    assert "direct cause" in text
    assert text.endswith("django.db.utils.IntegrityError: [message withheld: it may contain personal data]")


def test_connection_errors_keep_their_message():
    error = OperationalError('connection to server at "10.0.0.5", port 5432 failed')
    text = format_exception_without_data((type(error), error, None))
    assert text == 'django.db.utils.OperationalError: connection to server at "10.0.0.5", port 5432 failed'


# Oversized form posts: Django refuses them with 400 and logs them to django.security.<ExceptionName> with the
# traceback. One line without it is enough: nothing went wrong on the server.


def oversized_body() -> dict[str, str]:
    return {"login": "BODY-CONTENT-" + "x" * (3 * 1024 * 1024), "password": "typed-secret"}


def too_many_fields() -> dict[str, str]:
    return {f"field{n}": f"BODY-CONTENT-{n}" for n in range(1500)}


@pytest.mark.parametrize(
    ("data", "reason"),
    [(oversized_body, "body_too_large"), (too_many_fields, "too_many_fields")],
    ids=["3 MB body", "1,500 fields"],
)
def test_an_oversized_form_post_is_refused_with_one_log_line_and_no_traceback(captured_logs, data, reason):
    log_format, stream = captured_logs
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < 3 * 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS < 1500

    response = Client().post("/sign-in/?next=/home/&x=SECRET", data())

    assert response.status_code == 400
    assert "Sorry, there is a problem with the service" in response.content.decode()
    output = stream.getvalue()
    # No traceback, no exception message ("... exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE."), nothing posted.
    for text in ["Traceback", "exceeded", "DATA_UPLOAD", "BODY-CONTENT", "typed-secret"]:
        assert text not in output, f"{text!r} was logged"
    assert "SECRET" not in output
    if log_format == "json":
        lines = [line for line in json_lines(output) if line["logger"] != "factory.generate"]
        assert [line["event"] for line in lines] == ["request_started", "request_body_refused", "request_finished"]
        refused = lines[1]
        assert refused["path"] == "/sign-in/"
        assert refused["reason"] == reason
        assert refused["level"] == "warning"
        assert refused["logger"].startswith("django.security.")
        assert refused["request_id"] == lines[0]["request_id"]
        assert "exception" not in refused
    else:
        refused = [line for line in output.splitlines() if "request_body_refused" in line]
        assert len(refused) == 1
        assert "path=/sign-in/" in refused[0]
        assert f"reason={reason}" in refused[0]
        others = [
            line for line in output.splitlines() if "request_started" not in line and "request_finished" not in line
        ]
        assert others == refused
