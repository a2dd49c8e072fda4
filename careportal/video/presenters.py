"""What the "test your camera and microphone" page says about the video service the trust uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderHelp:
    name: str
    sentences: tuple[str, ...]
    link_text: str = ""
    link_href: str = ""


# Microsoft's own help for people who join a Teams meeting from a link, without a Teams account.
TEAMS_JOIN_HELP = "https://support.microsoft.com/en-gb/office/join-a-meeting-without-a-teams-account-c6efc38f-4e03-4e79-b28f-e65a4c039508"


def provider_help(provider: str) -> ProviderHelp | None:
    """For VIDEO_PROVIDER: the service's name, what joining is like, and its own help where it has some."""
    if provider == "teams":
        return ProviderHelp(
            name="Microsoft Teams",
            sentences=(
                "Video appointments use Microsoft Teams. You do not need a Teams account or to install anything: "
                "the link opens the appointment in your web browser. On a phone or tablet you may be asked to "
                "install the free Teams app.",
                "Before you go in, Teams shows your camera and lets you choose your microphone and speaker. You "
                "then wait in a waiting room until your clinician lets you in.",
            ),
            link_text="Microsoft's help on joining a Teams meeting without an account",
            link_href=TEAMS_JOIN_HELP,
        )
    if provider == "jitsi":
        return ProviderHelp(
            name="Jitsi Meet",
            sentences=(
                "Video appointments use Jitsi Meet. You do not need an account or to install anything: the link "
                "opens the appointment in your web browser. On a phone or tablet you may be asked to install the "
                "free Jitsi Meet app.",
                "Before you go in, Jitsi Meet shows your camera and lets you choose your microphone and speaker.",
            ),
        )
    return None
