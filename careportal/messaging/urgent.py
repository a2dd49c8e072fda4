"""Spotting text that suggests an emergency, so the patient sees the urgent-care page (999, 111) before sending.

Matching is deliberately simple and errs towards showing the page: a false alarm costs the patient one click
("send anyway"), a miss may cost far more. Both the text and each phrase are normalised the same way (see
`normalise`) and a phrase matches when it appears as whole words, except that its last word may also take a plural
ending: "chest pain" matches "chest pains", "seizure" matches "seizures", but "stroke" does not match "stroked".
A phrase inside an unrelated sentence still matches ("a pain in my chest of drawers"): the list is reviewed by the
trust with the interception counts in the admin, not by cleverer matching.

Whole words means on word boundaries of the normalised text: "pain" does not match "painting", and a phrase needs
at least four letters (`phrase_problem`), so that "1" or "x" cannot be added to match "1 tablet" or "x-ray". The
check runs on every message sent, so all the active phrases are one compiled pattern, compiled again only when
the list changes (`_current_matcher`).
"""

import re
import unicodedata
from dataclasses import dataclass

from careportal.messaging.models import UrgentPhrase

# Apostrophes (straight, curly as phones type them, the modifier letter and the backtick) are removed rather than
# turned into spaces, so "can't", "can\u2019t" and "cant" all read "cant".
APOSTROPHES = frozenset("'\u2019\u2018\u02bc`")
# Unicode categories kept as they are: letters, marks (accents typed as combining characters) and numbers.
KEPT_CATEGORIES = ("L", "M", "N")
PLURAL_ENDING = "(?:e?s)?"
# The fewest letters a phrase may have (phrase_problem says why).
PHRASE_MIN_LETTERS = 4
TOO_SHORT_MESSAGE = (
    f'Enter a phrase with at least {PHRASE_MIN_LETTERS} letters, for example "chest pain". Numbers, single '
    "letters and punctuation on their own would match ordinary messages"
)


class _Replacements(dict[int, str]):
    """What `normalise` turns each character into, worked out once per character the first time it is seen, so
    that `str.translate` does the rest at C speed (the preview normalises thousands of messages at a time)."""

    def __missing__(self, ordinal: int) -> str:
        character = chr(ordinal)
        if character in APOSTROPHES:
            value = ""
        elif unicodedata.category(character).startswith(KEPT_CATEGORIES):
            value = character
        else:
            value = " "
        self[ordinal] = value
        return value


_REPLACEMENTS = _Replacements()


def normalise(text: str) -> str:
    """Lower case, apostrophes removed, any other punctuation or symbol as a space, whitespace collapsed. Accents
    are kept, in their composed form (NFC), so that "é" typed either way reads the same."""
    composed = unicodedata.normalize("NFC", text).lower()
    return " ".join(composed.translate(_REPLACEMENTS).split())


def phrase_letter_count(normalised: str) -> int:
    """How many letters (in any alphabet: Latin, Arabic, Devanagari...) a normalised phrase has."""
    return sum(1 for character in normalised if unicodedata.category(character).startswith("L"))


def phrase_problem(phrase: str) -> str | None:
    """Why a phrase cannot be on the list, as the sentence a page shows, or None when it can.

    A phrase needs at least PHRASE_MIN_LETTERS letters, wherever they are. "1", "b", "x", "999" or "!!!" would
    match whole words that ordinary messages are full of ("1 tablet", "plan b", "x-ray"), and the shortest
    emergency words worth a phrase of their own have more ("fit" works as "having a fit", "od" as "overdose").
    The 999 list the trust starts with has no phrase of fewer than 6 letters."""
    normalised = normalise(phrase)
    if not normalised:
        return TOO_SHORT_MESSAGE
    if phrase_letter_count(normalised) < PHRASE_MIN_LETTERS:
        return TOO_SHORT_MESSAGE
    return None


@dataclass(frozen=True)
class _Matcher:
    """One regular expression for every active phrase: one alternative each, longest first, so that at any place
    in the text the longest phrase that starts there wins, and the earliest place in the text wins overall."""

    key: tuple[tuple[int, str], ...]
    pattern: re.Pattern[str] | None
    # The named group of each alternative ("p0", "p1"...) -> the position of its phrase in the query's rows.
    rows_by_group: dict[str, int]


_matcher: _Matcher | None = None


def _build_matcher(key: tuple[tuple[int, str], ...]) -> _Matcher:
    alternatives: list[tuple[str, int]] = []
    seen: set[str] = set()
    for position, (_pk, text) in enumerate(key):
        normalised = normalise(text)
        # A phrase saved before the minimum length existed (or straight into the database) never matches.
        if phrase_problem(normalised) is not None or normalised in seen:
            continue
        seen.add(normalised)
        alternatives.append((normalised, position))
    if not alternatives:
        return _Matcher(key=key, pattern=None, rows_by_group={})
    alternatives.sort(key=lambda item: -len(item[0]))  # stable: equal lengths keep the list's order
    groups = "|".join(f"(?P<p{index}>{re.escape(text)})" for index, (text, _position) in enumerate(alternatives))
    pattern = re.compile(rf"(?:^| )(?:{groups}){PLURAL_ENDING}(?= |$)")
    return _Matcher(
        key=key,
        pattern=pattern,
        rows_by_group={f"p{index}": position for index, (_text, position) in enumerate(alternatives)},
    )


def _current_matcher(rows: list[UrgentPhrase]) -> _Matcher:
    """The compiled matcher for these rows, built again only when a phrase was added, changed, switched on or off
    or deleted. The cache is keyed by the active phrases themselves (read on every send anyway: about 70 short
    rows), so it can never be stale, whichever web process or admin page made the change."""
    global _matcher  # a per-process cache of one compiled pattern
    key = tuple((row.pk, row.phrase) for row in rows)
    current = _matcher
    if current is None or current.key != key:
        current = _build_matcher(key)
        _matcher = current
    return current


def urgent_phrase_found(text: str) -> UrgentPhrase | None:
    """The active phrase found earliest in the text (the longer one when two start at the same place), or None."""
    normalised = normalise(text)
    if not normalised:
        return None
    rows = list(
        UrgentPhrase.objects.filter(is_active=True)
        .order_by("category", "phrase", "pk")
        .only("pk", "phrase", "category")
    )
    matcher = _current_matcher(rows)
    if matcher.pattern is None:
        return None
    match = matcher.pattern.search(normalised)
    if match is None or match.lastgroup is None:
        return None
    return rows[matcher.rows_by_group[match.lastgroup]]


def phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    """The pattern for one phrase on its own, as the list's matcher would use it (for the preview count), or None
    for a phrase that could never match."""
    normalised = normalise(phrase)
    if phrase_problem(normalised) is not None:
        return None
    return re.compile(rf"(?:^| ){re.escape(normalised)}{PLURAL_ENDING}(?= |$)")
