"""Spotting text that suggests an emergency, so the patient sees the urgent-care page (999, 111) before sending.

Matching is deliberately simple and errs towards showing the page: a false alarm costs the patient one click
("send anyway"), a miss may cost far more. Both the text and each phrase are normalised the same way (see
`normalise`) and a phrase matches when it appears as whole words, except that its last word may also take a plural
ending: "chest pain" matches "chest pains", "seizure" matches "seizures", but "stroke" does not match "stroked".
A phrase inside an unrelated sentence still matches ("a pain in my chest of drawers"): the list is reviewed by the
trust with the interception counts in the admin, not by cleverer matching.
"""

import re
import unicodedata

from careportal.messaging.models import UrgentPhrase

# Apostrophes (straight, curly as phones type them, the modifier letter and the backtick) are removed rather than
# turned into spaces, so "can't", "can\u2019t" and "cant" all read "cant".
APOSTROPHES = frozenset("'\u2019\u2018\u02bc`")
# Unicode categories kept as they are: letters, marks (accents typed as combining characters) and numbers.
KEPT_CATEGORIES = ("L", "M", "N")
PLURAL_ENDING = "(?:e?s)?"


def normalise(text: str) -> str:
    """Lower case, apostrophes removed, any other punctuation or symbol as a space, whitespace collapsed. Accents
    are kept, in their composed form (NFC), so that "é" typed either way reads the same."""
    composed = unicodedata.normalize("NFC", text).lower()
    characters = []
    for character in composed:
        if character in APOSTROPHES:
            continue
        if unicodedata.category(character).startswith(KEPT_CATEGORIES):
            characters.append(character)
        else:
            characters.append(" ")
    return " ".join("".join(characters).split())


def _phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    normalised = normalise(phrase)
    if not normalised:
        return None
    return re.compile(rf"(?:^| ){re.escape(normalised)}{PLURAL_ENDING}(?= |$)")


def urgent_phrase_found(text: str) -> UrgentPhrase | None:
    """The active phrase found earliest in the text (the longer one when two start at the same place), or None."""
    normalised = normalise(text)
    if not normalised:
        return None
    best: tuple[int, int, UrgentPhrase] | None = None
    for phrase in UrgentPhrase.objects.filter(is_active=True).only("pk", "phrase", "category"):
        pattern = _phrase_pattern(phrase.phrase)
        if pattern is None:
            continue
        match = pattern.search(normalised)
        if match is None:
            continue
        candidate = (match.start(), -len(match.group()), phrase)
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    return best[2] if best is not None else None
