"""Microsoft Teams through Microsoft Graph, end to end over real sockets against a Graph-shaped HTTPS server
(tests/video/graph_server.py): msal's client-credentials sign-in, createOrGet, PATCH, DELETE, and every way it fails.
"""

import dataclasses
import datetime
import json
import logging
import socket
import threading
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from careportal.video.providers import Meeting, MeetingRequest, VideoProviderError, video_provider
from careportal.video.teams import TeamsProvider
from tests.video.graph_server import CLIENT_ID, CLIENT_SECRET, ORGANIZER_ID, TENANT_ID, Canned

LONDON = ZoneInfo("Europe/London")
REFERENCE = "apt-7Qk2vR9xLm4T"


def a_request(*, start=datetime.datetime(2026, 12, 7, 10, 0, tzinfo=LONDON), minutes=20, reference=REFERENCE):
    return MeetingRequest(reference=reference, start=start, end=start + datetime.timedelta(minutes=minutes))


class Sleeps(list):
    """Stands in for time.sleep: records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def teams(teams_settings, sleeps) -> TeamsProvider:
    return TeamsProvider(teams_settings, sleep=sleeps)


def json_body(recorded) -> dict:
    return json.loads(recorded.body)


# Create, move, cancel --------------------------------------------------------------------------------------------


def test_create_signs_in_as_the_app_and_creates_the_meeting_for_the_organiser(graph, teams):
    meeting = teams.meeting_create(a_request())

    stored = next(iter(graph.meetings.values()))
    assert meeting == Meeting(provider="teams", external_id=stored["id"], join_url=stored["joinWebUrl"])
    # msal read the tenant's OpenID configuration, then asked for a token (the server checks the grant's shape)
    paths = [r.path for r in graph.requests]
    assert paths[0] == f"/{TENANT_ID}/v2.0/.well-known/openid-configuration"
    assert len(graph.token_calls()) == 1
    # and Graph was asked, with that token, for the meeting: a UTC time in winter equals London's
    (call,) = graph.graph_calls()
    assert (call.method, call.path) == ("POST", f"/v1.0/users/{ORGANIZER_ID}/onlineMeetings/createOrGet")
    assert call.headers["authorization"] == f"Bearer {graph.tokens_issued[0]}"
    assert json_body(call) == {
        "externalId": f"careportal-{REFERENCE}",
        "startDateTime": "2026-12-07T10:00:00Z",
        "endDateTime": "2026-12-07T10:20:00Z",
        "subject": "Video consultation",
    }


def test_times_are_sent_in_utc_in_summer_time(graph, teams):
    teams.meeting_create(a_request(start=datetime.datetime(2026, 6, 15, 9, 30, tzinfo=LONDON), minutes=30))

    (call,) = graph.graph_calls()
    assert json_body(call)["startDateTime"] == "2026-06-15T08:30:00Z"
    assert json_body(call)["endDateTime"] == "2026-06-15T09:00:00Z"


def test_asking_twice_for_the_same_appointment_gives_the_same_meeting(graph, teams):
    first = teams.meeting_create(a_request())
    second = teams.meeting_create(a_request())

    assert second == first
    assert len(graph.meetings) == 1
    # Both asked createOrGet with the same externalId; the token was kept by msal and reused
    assert [json_body(c)["externalId"] for c in graph.graph_calls()] == [f"careportal-{REFERENCE}"] * 2
    assert len(graph.token_calls()) == 1


def test_different_appointments_get_different_meetings(graph, teams):
    first = teams.meeting_create(a_request(reference="apt-one"))
    second = teams.meeting_create(a_request(reference="apt-two"))

    assert first.external_id != second.external_id
    assert first.join_url != second.join_url


def test_moving_the_appointment_moves_the_meeting_and_keeps_its_link(graph, teams):
    meeting = teams.meeting_create(a_request())
    later = datetime.datetime(2026, 12, 8, 14, 0, tzinfo=LONDON)

    moved = teams.meeting_update(meeting, a_request(start=later, minutes=40))

    assert moved == meeting
    call = graph.graph_calls()[-1]
    assert call.method == "PATCH"
    assert call.path.startswith(f"/v1.0/users/{ORGANIZER_ID}/onlineMeetings/")
    assert json_body(call) == {
        "startDateTime": "2026-12-08T14:00:00Z",
        "endDateTime": "2026-12-08T14:40:00Z",
        "subject": "Video consultation",
    }
    assert graph.meetings[meeting.external_id]["startDateTime"] == "2026-12-08T14:00:00Z"


def test_cancelling_deletes_the_meeting_and_cancelling_again_is_harmless(graph, teams):
    meeting = teams.meeting_create(a_request())

    teams.meeting_cancel(meeting)
    teams.meeting_cancel(meeting)

    assert graph.meetings == {}
    assert [c.method for c in graph.graph_calls()] == ["POST", "DELETE", "DELETE"]


def test_moving_a_meeting_deleted_in_teams_is_an_error(graph, teams):
    meeting = teams.meeting_create(a_request())
    graph.meetings.clear()

    with pytest.raises(VideoProviderError, match=r"refused to move the meeting \(HTTP 404, NotFound\)"):
        teams.meeting_update(meeting, a_request())


def test_a_meeting_without_a_teams_id_cannot_be_changed(graph, teams):
    with pytest.raises(VideoProviderError, match="has no Teams id"):
        teams.meeting_cancel(Meeting(provider="teams", external_id="", join_url="https://teams.microsoft.com/x"))
    assert graph.requests == []


def test_times_without_a_time_zone_are_refused(graph, teams):
    aware = a_request()
    naive = MeetingRequest(
        reference=REFERENCE, start=aware.start.replace(tzinfo=None), end=aware.end.replace(tzinfo=None)
    )
    with pytest.raises(VideoProviderError, match="time zone"):
        teams.meeting_create(naive)
    assert graph.graph_calls() == []


# Refusals --------------------------------------------------------------------------------------------------------


def test_a_refused_app_secret_is_an_error_that_names_the_settings_not_microsofts_text(graph, teams):
    graph.refuse_tokens = True

    with pytest.raises(VideoProviderError) as error:
        teams.meeting_create(a_request())

    message = str(error.value)
    assert "invalid_client" in message
    assert "TEAMS_CLIENT_SECRET" in message
    assert "AADSTS" not in message
    assert graph.graph_calls() == []


def test_an_unknown_tenant_is_an_error_that_names_the_setting(graph, teams_settings, sleeps):
    other_tenant = dataclasses.replace(teams_settings, tenant_id="00000000-0000-4000-8000-000000000000")

    with pytest.raises(VideoProviderError, match="did not know the tenant") as error:
        TeamsProvider(other_tenant, sleep=sleeps).meeting_create(a_request())

    assert "TEAMS_TENANT_ID" in str(error.value)
    assert graph.token_calls() == []


def test_a_token_graph_does_not_accept_is_an_error(graph, teams):
    graph.script(Canned(401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}))

    with pytest.raises(VideoProviderError) as error:
        teams.meeting_create(a_request())

    assert str(error.value) == (
        "Microsoft Graph refused to create the meeting (HTTP 401, InvalidAuthenticationToken): the access token was "
        "not accepted; check TEAMS_TENANT_ID"
    )


def test_no_application_access_policy_is_an_error_that_tells_the_operator(graph, teams):
    graph.script(
        Canned(
            403,
            {
                "error": {
                    "code": "Forbidden",
                    "message": f"Application is not allowed to perform operations on the user '{ORGANIZER_ID}'.",
                }
            },
        )
    )

    with pytest.raises(VideoProviderError) as error:
        teams.meeting_create(a_request())

    message = str(error.value)
    assert "HTTP 403, Forbidden" in message
    assert "application access policy" in message
    assert "Grant-CsApplicationAccessPolicy" in message
    assert "TEAMS_ORGANIZER_USER_ID" in message
    # Graph's own text is not repeated
    assert ORGANIZER_ID not in message


def test_an_unusual_graph_error_code_is_not_repeated(graph, teams):
    graph.script(Canned(400, {"error": {"code": "see https://example.org/?x=1 for details", "message": "no"}}))

    with pytest.raises(VideoProviderError) as error:
        teams.meeting_create(a_request())

    assert str(error.value) == "Microsoft Graph refused to create the meeting (HTTP 400)"


def test_a_join_link_that_is_not_https_is_refused(graph, teams):
    graph.script(Canned(201, {"id": "MSoX", "joinWebUrl": "javascript:alert(1)"}))

    with pytest.raises(VideoProviderError, match="no https join link"):
        teams.meeting_create(a_request())


def test_an_answer_that_is_not_json_is_an_error(graph, teams):
    graph.script(Canned(201, None))

    with pytest.raises(VideoProviderError, match="not JSON"):
        teams.meeting_create(a_request())


# Throttling, server errors and outages ---------------------------------------------------------------------------


def test_throttled_with_retry_after_waits_that_long_then_succeeds(graph, teams, sleeps):
    graph.script(Canned(429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, {"Retry-After": "3"}))

    meeting = teams.meeting_create(a_request())

    assert sleeps == [3.0]
    assert meeting.external_id in graph.meetings
    assert [c.method for c in graph.graph_calls()] == ["POST", "POST"]


def test_a_server_error_without_retry_after_is_retried_after_a_short_wait(graph, teams, sleeps):
    graph.script(Canned(503, {"error": {"code": "ServiceUnavailable", "message": "busy"}}))

    teams.meeting_create(a_request())

    assert sleeps == [1.0]
    assert len(graph.meetings) == 1


def test_retry_after_longer_than_we_wait_is_an_error_at_once(graph, teams, sleeps):
    graph.script(Canned(429, {"error": {"code": "TooManyRequests", "message": "later"}}, {"Retry-After": "600"}))

    with pytest.raises(VideoProviderError, match=r"HTTP 429; asked to wait 600 seconds"):
        teams.meeting_create(a_request())

    assert sleeps == []


def test_server_errors_that_persist_give_up_after_a_bounded_number_of_attempts(graph, teams, sleeps):
    graph.script(*[Canned(500, {"error": {"code": "InternalServerError", "message": "oops"}})] * 4)

    with pytest.raises(VideoProviderError, match=r"could not create the meeting \(HTTP 500, 4 attempts\)"):
        teams.meeting_create(a_request())

    assert sleeps == [1.0, 2.0, 4.0]
    assert graph.meetings == {}


def test_microsoft_sign_in_unreachable_is_an_error(teams_settings, closed_port, sleeps):
    down = dataclasses.replace(teams_settings, authority_host=f"https://127.0.0.1:{closed_port}")

    with pytest.raises(VideoProviderError, match="Microsoft sign-in could not be reached") as error:
        TeamsProvider(down, sleep=sleeps).meeting_create(a_request())

    assert "TEAMS_AUTHORITY_HOST" in str(error.value)


def test_graph_unreachable_is_an_error_after_bounded_retries(graph, teams_settings, closed_port, sleeps):
    down = dataclasses.replace(teams_settings, graph_base_url=f"https://127.0.0.1:{closed_port}/v1.0")

    with pytest.raises(VideoProviderError, match=r"could not create the meeting \(could not connect, 4 attempts\)"):
        TeamsProvider(down, sleep=sleeps).meeting_create(a_request())

    assert sleeps == [1.0, 2.0, 4.0]


def test_graph_that_never_answers_times_out(graph, teams_settings, sleeps):
    # A socket that accepts connections (the kernel's backlog) but never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        slow = dataclasses.replace(teams_settings, graph_base_url=f"https://127.0.0.1:{port}/v1.0", timeout_seconds=0.2)
        provider = TeamsProvider(slow, sleep=sleeps, max_attempts=2)

        with pytest.raises(VideoProviderError, match=r"\(timed out, 2 attempts\)"):
            provider.meeting_create(a_request())


def test_a_server_whose_certificate_is_not_trusted_is_refused(graph, teams_settings, sleeps):
    untrusted = dataclasses.replace(teams_settings, ca_bundle="")

    with pytest.raises(VideoProviderError, match="could not be reached"):
        TeamsProvider(untrusted, sleep=sleeps).meeting_create(a_request())

    assert graph.token_calls() == []


# Logs ------------------------------------------------------------------------------------------------------------


def test_the_join_link_never_reaches_the_logs(graph, teams, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "msal", "careportal", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    graph.script(Canned(429, {"error": {"code": "TooManyRequests", "message": "x"}}, {"Retry-After": "1"}))

    meeting = teams.meeting_create(a_request())
    teams.meeting_create(a_request())
    moved = teams.meeting_update(meeting, a_request(minutes=45))
    graph.script(Canned(403, {"error": {"code": "Forbidden", "message": "no policy"}}))
    with pytest.raises(VideoProviderError) as error:
        teams.meeting_update(meeting, a_request(minutes=50))
    teams.meeting_cancel(moved)

    logged = caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    # The capture works, for our lines and for the libraries' (httpx's request lines, msal's debug lines)
    assert "video_meeting_created" in logged
    assert "HTTP Request: PATCH" in logged
    assert any(record.name.startswith("msal") for record in caplog.records)
    thread = meeting.join_url.split("meetup-join/")[1].split("/")[0]
    for secret in (meeting.join_url, thread, CLIENT_SECRET, *graph.tokens_issued):
        assert secret not in logged
        assert secret not in str(error.value)


# video_provider() ------------------------------------------------------------------------------------------------


def teams_overrides(graph, **changes):
    values = {
        "VIDEO_PROVIDER": "teams",
        "TEAMS_TENANT_ID": TENANT_ID,
        "TEAMS_CLIENT_ID": CLIENT_ID,
        "TEAMS_CLIENT_SECRET": CLIENT_SECRET,
        "TEAMS_ORGANIZER_USER_ID": ORGANIZER_ID,
        "TEAMS_AUTHORITY_HOST": graph.url,
        "GRAPH_BASE_URL": graph.graph_base_url,
        "TEAMS_CA_BUNDLE": str(graph.ca_path),
        "TEAMS_TIMEOUT_SECONDS": 5.0,
    }
    return override_settings(**{**values, **changes})


def test_video_provider_builds_teams_from_the_settings_and_keeps_it(graph):
    with teams_overrides(graph):
        provider = video_provider()
        meeting = provider.meeting_create(a_request())
        video_provider().meeting_create(a_request(reference="apt-other"))

        assert isinstance(provider, TeamsProvider)
        assert video_provider() is provider
    assert meeting.provider == "teams"
    # One sign-in for both meetings: the provider (and msal's token) is kept for the process
    assert len(graph.token_calls()) == 1


def test_video_provider_names_missing_teams_settings(graph):
    with (
        teams_overrides(graph, TEAMS_CLIENT_SECRET="", TEAMS_ORGANIZER_USER_ID=""),
        pytest.raises(VideoProviderError, match="set TEAMS_CLIENT_SECRET, TEAMS_ORGANIZER_USER_ID"),
    ):
        video_provider()


def test_threads_share_one_provider_safely(graph):
    with teams_overrides(graph):
        results: list[Meeting] = []
        errors: list[BaseException] = []

        def book(reference: str) -> None:
            try:
                results.append(video_provider().meeting_create(a_request(reference=reference)))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=book, args=(f"apt-{n}",)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert errors == []
    assert len({m.external_id for m in results}) == 6
