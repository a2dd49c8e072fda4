"""Whom a patient-area page speaks to, and whom it speaks about.

A patient reading their own record is spoken to: "You have no letters", "How we send your letters". Someone acting
for them (a parent, a carer) reads about the patient, by first name: "Arjun has no letters", "How we send Arjun's
letters". Text about the reader themself ("your account", "you can see only the parts you have been given") stays
in the second person whoever they are.

Presenters and templates take their words from one `Voice` rather than testing `viewer.is_proxy` each time, so a
page cannot speak to the proxy about the patient's record by mistake.
"""

from dataclasses import dataclass

from careportal.access.layer import Viewer


@dataclass(frozen=True)
class Voice:
    own: bool  # the reader is the patient whose record this is
    name: str = ""  # the patient's first name, for someone acting for them

    @property
    def subject(self) -> str:
        """ "you" / "Arjun", in the middle of a sentence."""
        return "you" if self.own else self.name

    @property
    def Subject(self) -> str:
        return "You" if self.own else self.name

    @property
    def possessive(self) -> str:
        """ "your" / "Arjun's", in the middle of a sentence."""
        return "your" if self.own else _possessive(self.name)

    @property
    def Possessive(self) -> str:
        return "Your" if self.own else _possessive(self.name)

    @property
    def has(self) -> str:
        """ "You have" / "Arjun has", to start a sentence."""
        return "You have" if self.own else f"{self.name} has"

    @property
    def is_(self) -> str:
        """ "you are" / "Arjun is"."""
        return "you are" if self.own else f"{self.name} is"

    @property
    def pronoun(self) -> str:
        """ "you" / "they", for a second mention in the same sentence."""
        return "you" if self.own else "they"

    @property
    def pronoun_possessive(self) -> str:
        """ "your" / "their", for a second mention in the same sentence."""
        return "your" if self.own else "their"


def _possessive(name: str) -> str:
    return f"{name}'s"


def voice_for(viewer: Viewer) -> Voice:
    """The patient's own voice, or the third person for anyone acting for them."""
    if viewer.is_proxy and viewer.patient is not None:
        return Voice(own=False, name=viewer.patient.given_name)
    return Voice(own=True)
