"""Jitsi Meet: unguessable rooms, one per appointment, and the optional token checked with PyJWT as Prosody would."""

import base64
import datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import jwt
import pytest
import time_machine
from django.test import override_settings

from careportal.video.jitsi import JitsiProvider, JitsiTokenSettings, room_name_for
from careportal.video.providers import Meeting, MeetingRequest, VideoProviderError, video_provider

LONDON = ZoneInfo("Europe/London")
START = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=LONDON)
APP_SECRET = "a-test-jitsi-secret-of-enough-length-0123456789"
TOKEN = JitsiTokenSettings(
    app_id="careportal",
    app_secret=APP_SECRET,
    audience="jitsi",
    early=datetime.timedelta(minutes=30),
    late=datetime.timedelta(minutes=120),
)


def a_request(*, reference="apt-7Qk2vR9xLm4T", start=START, minutes=20):
    return MeetingRequest(reference=reference, start=start, end=start + datetime.timedelta(minutes=minutes))


def token_in(url: str) -> str:
    (token,) = parse_qs(urlsplit(url).query)["jwt"]
    return token


def decode(token: str, **options) -> dict:
    return jwt.decode(token, APP_SECRET, algorithms=["HS256"], audience="jitsi", issuer="careportal", **options)


# Room names ------------------------------------------------------------------------------------------------------


def test_room_names_carry_128_bits_in_lower_case_base32():
    room = room_name_for("apt-1")

    prefix, token = room.split("-")
    assert prefix == "videoconsultation"
    assert len(token) == 26
    assert token == token.lower()
    assert len(base64.b32decode(token.upper() + "======")) == 16


def test_room_names_differ_between_appointments_and_say_nothing_of_the_reference():
    references = [f"apt-{n}" for n in range(500)] + ["1", "2", "a", "A"]
    rooms = {room_name_for(reference) for reference in references}

    assert len(rooms) == len(references)
    assert not any("apt" in room.removeprefix("videoconsultation-") for room in rooms)
    # Every symbol of the alphabet turns up across the rooms: no position is stuck
    assert set("".join(room.split("-")[1] for room in rooms)) == set("abcdefghijklmnopqrstuvwxyz234567")


def test_the_same_appointment_gets_the_same_room():
    assert room_name_for("apt-42") == room_name_for("apt-42")


def test_room_names_depend_on_the_secret_key():
    before = room_name_for("apt-42")
    with override_settings(SECRET_KEY="another-secret-key-" + "y" * 40):
        assert room_name_for("apt-42") != before


def test_a_meeting_needs_a_reference():
    with pytest.raises(VideoProviderError, match="reference"):
        JitsiProvider(base_url="https://meet.example.org").meeting_create(a_request(reference=""))


# Without tokens --------------------------------------------------------------------------------------------------


def test_without_token_settings_the_link_is_the_room_alone():
    provider = JitsiProvider(base_url="https://meet.example.org/")

    meeting = provider.meeting_create(a_request())

    room = room_name_for("apt-7Qk2vR9xLm4T")
    assert meeting == Meeting(provider="jitsi", external_id=room, join_url=f"https://meet.example.org/{room}")


def test_video_provider_defaults_to_jitsi_without_tokens_in_development():
    provider = video_provider()

    assert isinstance(provider, JitsiProvider)
    meeting = provider.meeting_create(a_request())
    assert meeting.join_url.startswith("https://meet.jit.si/videoconsultation-")
    assert "?" not in meeting.join_url


@override_settings(VIDEO_PROVIDER="none")
def test_no_video_provider_is_an_error_that_says_what_to_set():
    with pytest.raises(VideoProviderError, match="set VIDEO_PROVIDER to jitsi or teams"):
        video_provider()


@pytest.mark.parametrize("base_url", ["meet.example.org", "ftp://meet.example.org", "https://meet.example.org/?x=1"])
def test_a_base_url_that_is_not_a_plain_web_address_is_refused(base_url):
    with pytest.raises(VideoProviderError, match="JITSI_BASE_URL"):
        JitsiProvider(base_url=base_url)


# With tokens -----------------------------------------------------------------------------------------------------


def test_the_token_is_for_this_room_on_this_server_from_before_the_start_until_after_the_end():
    meeting = JitsiProvider(base_url="https://meet.example.org", token=TOKEN).meeting_create(a_request())

    with time_machine.travel(START, tick=False):
        claims = decode(token_in(meeting.join_url))
    assert jwt.get_unverified_header(token_in(meeting.join_url))["alg"] == "HS256"
    assert claims == {
        "iss": "careportal",
        "aud": "jitsi",
        "sub": "meet.example.org",
        "room": meeting.external_id,
        "nbf": int((START - datetime.timedelta(minutes=30)).timestamp()),
        "exp": int((START + datetime.timedelta(minutes=20 + 120)).timestamp()),
    }
    assert urlsplit(meeting.join_url).path == f"/{meeting.external_id}"


def test_the_token_does_not_work_too_early_or_too_late():
    token = token_in(
        JitsiProvider(base_url="https://meet.example.org", token=TOKEN).meeting_create(a_request()).join_url
    )

    with (
        time_machine.travel(START - datetime.timedelta(minutes=31), tick=False),
        pytest.raises(jwt.ImmatureSignatureError),
    ):
        decode(token)
    with time_machine.travel(START - datetime.timedelta(minutes=29), tick=False):
        decode(token)
    with time_machine.travel(START + datetime.timedelta(minutes=139), tick=False):
        decode(token)
    with (
        time_machine.travel(START + datetime.timedelta(minutes=141), tick=False),
        pytest.raises(jwt.ExpiredSignatureError),
    ):
        decode(token)


def test_a_token_signed_with_another_secret_is_not_accepted():
    token = token_in(
        JitsiProvider(base_url="https://meet.example.org", token=TOKEN).meeting_create(a_request()).join_url
    )

    with time_machine.travel(START, tick=False), pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-of-enough-length-0123456789ab", algorithms=["HS256"], audience="jitsi")


def test_the_token_names_the_tenant_for_a_server_with_tenants():
    meeting = JitsiProvider(base_url="https://meet.example.org/Cardiology", token=TOKEN).meeting_create(a_request())

    assert meeting.join_url.startswith(f"https://meet.example.org/Cardiology/{meeting.external_id}?jwt=")
    with time_machine.travel(START, tick=False):
        assert decode(token_in(meeting.join_url))["sub"] == "cardiology"


def test_moving_the_appointment_keeps_the_room_and_issues_a_token_for_the_new_time():
    provider = JitsiProvider(base_url="https://meet.example.org", token=TOKEN)
    meeting = provider.meeting_create(a_request())
    next_week = START + datetime.timedelta(days=7)

    moved = provider.meeting_update(meeting, a_request(reference="ignored-when-the-room-is-kept", start=next_week))

    assert moved.external_id == meeting.external_id
    assert moved.join_url != meeting.join_url
    with time_machine.travel(next_week, tick=False):
        assert decode(token_in(moved.join_url))["room"] == meeting.external_id


def test_cancelling_needs_nothing_from_the_server():
    provider = JitsiProvider(base_url="https://meet.example.org", token=TOKEN)
    assert provider.meeting_cancel(provider.meeting_create(a_request())) is None


def test_a_meeting_that_ends_before_it_starts_is_refused():
    with pytest.raises(VideoProviderError, match="end after it starts"):
        JitsiProvider(base_url="https://meet.example.org").meeting_create(a_request(minutes=0))


@override_settings(
    JITSI_BASE_URL="https://video.example.nhs.uk",
    JITSI_APP_ID="careportal",
    JITSI_APP_SECRET=APP_SECRET,
    JITSI_JWT_AUDIENCE="jitsi",
    JITSI_TOKEN_EARLY_MINUTES=15,
    JITSI_TOKEN_LATE_MINUTES=60,
)
def test_video_provider_builds_jitsi_with_tokens_from_the_settings():
    meeting = video_provider().meeting_create(a_request())

    with time_machine.travel(START, tick=False):
        claims = decode(token_in(meeting.join_url))
    assert claims["sub"] == "video.example.nhs.uk"
    assert claims["nbf"] == int((START - datetime.timedelta(minutes=15)).timestamp())
    assert claims["exp"] == int((START + datetime.timedelta(minutes=20 + 60)).timestamp())
