"""Video settings in production: none needed by default, and a chosen provider that is not fully set up stops
start-up with a message naming what to set. Each case starts `manage.py check` in a fresh process."""

import pytest

from tests.core.test_settings import manage, production_environment


def test_production_starts_without_video_settings_and_has_no_video_provider(tmp_path):
    script = "from django.conf import settings as s\nprint(s.VIDEO_PROVIDER, repr(s.JITSI_BASE_URL))\n"
    result = manage("shell", "--no-imports", "-c", script, env=production_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["none", "''"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"VIDEO_PROVIDER": "zoom"}, "VIDEO_PROVIDER must be jitsi, teams or none (it is 'zoom')"),
        ({"VIDEO_PROVIDER": "jitsi"}, "Set JITSI_BASE_URL (your Jitsi Meet server's address) for VIDEO_PROVIDER=jitsi"),
        (
            {"VIDEO_PROVIDER": "jitsi", "JITSI_BASE_URL": "http://meet.example.nhs.uk"},
            "JITSI_BASE_URL must be an https:// address in production",
        ),
        (
            {"VIDEO_PROVIDER": "jitsi", "JITSI_BASE_URL": "https://meet.example.nhs.uk", "JITSI_APP_ID": "careportal"},
            "Set both JITSI_APP_ID and JITSI_APP_SECRET for Jitsi tokens, or neither",
        ),
        (
            {
                "VIDEO_PROVIDER": "jitsi",
                "JITSI_BASE_URL": "https://meet.example.nhs.uk",
                "JITSI_APP_ID": "careportal",
                "JITSI_APP_SECRET": "short",
            },
            "JITSI_APP_SECRET must be at least 32 characters long",
        ),
        (
            {"VIDEO_PROVIDER": "teams", "TEAMS_TENANT_ID": "t", "TEAMS_CLIENT_ID": "c"},
            "Set TEAMS_CLIENT_SECRET, TEAMS_ORGANIZER_USER_ID for VIDEO_PROVIDER=teams",
        ),
    ],
)
def test_production_refuses_to_start_with_a_video_provider_half_set_up(tmp_path, overrides, message):
    result = manage("check", env=production_environment(tmp_path, **overrides))
    assert result.returncode != 0
    assert f"django.core.exceptions.ImproperlyConfigured: {message}" in result.stderr


def test_production_starts_with_teams_fully_set_up(tmp_path):
    env = production_environment(
        tmp_path,
        VIDEO_PROVIDER="teams",
        TEAMS_TENANT_ID="9f0c3d1e-5b7a-4e2c-8d61-3a2b1c0d9e8f",
        TEAMS_CLIENT_ID="1b2c3d4e-0000-4000-8000-00000000c11e",
        TEAMS_CLIENT_SECRET="not-a-real-secret",
        TEAMS_ORGANIZER_USER_ID="7e6d5c4b-1111-4222-8333-0000000a11ce",
    )
    result = manage("check", env=env)
    assert result.returncode == 0, result.stderr
