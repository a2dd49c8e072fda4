"""Changes to the trust's list of urgent phrases, from the staff page (/staff/messages/urgent-phrases/) and the
Django admin alike: each one checks the phrase rules again and writes an `UrgentPhraseChange` in the same
transaction, so the history says who added, changed, switched off or on, or deleted which phrase, and when.

The matcher (careportal/messaging/urgent.py) notices any change by itself: its compiled pattern is keyed by the
active phrases.
"""

from django.db import transaction
from django.utils import timezone

from careportal.accounts.models import User
from careportal.core.text import strip_bidi_controls
from careportal.messaging.models import UrgentPhrase, UrgentPhraseChange, UrgentPhraseChangeKind
from careportal.messaging.urgent import normalise, phrase_problem

PHRASE_MAX_LENGTH = 100
CATEGORY_MAX_LENGTH = 60
CHANGED_BY_MAX_LENGTH = 250
DETAIL_MAX_LENGTH = 300


class PhraseError(Exception):
    """A change to the phrase list that the rules refuse, with the sentence to show; `code` names the rule."""

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def phrase_checked(phrase: str, *, instance: UrgentPhrase | None = None) -> str:
    """The phrase as it is stored and matched (normalised), or PhraseError: too short, too long, or already on the
    list (`instance` is the phrase being changed, which may keep its own text)."""
    normalised = normalise(phrase)
    problem = phrase_problem(normalised)
    if problem is not None:
        raise PhraseError(problem)
    if len(normalised) > PHRASE_MAX_LENGTH:
        raise PhraseError(f"Phrase must be {PHRASE_MAX_LENGTH} characters or fewer")
    clash = UrgentPhrase.objects.filter(phrase=normalised)
    if instance is not None and instance.pk is not None:
        clash = clash.exclude(pk=instance.pk)
    if clash.exists():
        raise PhraseError(f'"{normalised}" is already on the list. To use it again, reactivate it.', code="duplicate")
    return normalised


def category_checked(category: str) -> str:
    """One line, single spaces, no bidirectional overrides (careportal/core/text.py): a category is shown on
    staff pages next to the page's own words."""
    cleaned = " ".join(strip_bidi_controls(category or "").split())
    if not cleaned:
        raise PhraseError("Enter a category")
    if len(cleaned) > CATEGORY_MAX_LENGTH:
        raise PhraseError(f"Category must be {CATEGORY_MAX_LENGTH} characters or fewer")
    return cleaned


def _record(*, phrase: UrgentPhrase, kind: str, by: User, detail: str = "") -> UrgentPhraseChange:
    return UrgentPhraseChange.objects.create(
        phrase=phrase if kind != UrgentPhraseChangeKind.DELETED else None,
        kind=kind,
        phrase_text=phrase.phrase[:PHRASE_MAX_LENGTH],
        category=phrase.category[:CATEGORY_MAX_LENGTH],
        detail=detail[:DETAIL_MAX_LENGTH],
        changed_by=by,
        changed_by_display=by.audit_name[:CHANGED_BY_MAX_LENGTH],
        changed_at=timezone.now(),
    )


@transaction.atomic
def urgent_phrase_add(*, by: User, phrase: str, category: str, is_active: bool = True) -> UrgentPhrase:
    added = UrgentPhrase.objects.create(
        phrase=phrase_checked(phrase), category=category_checked(category), is_active=is_active
    )
    _record(phrase=added, kind=UrgentPhraseChangeKind.ADDED, by=by, detail="" if is_active else "added switched off")
    return added


@transaction.atomic
def urgent_phrase_set_active(*, by: User, phrase: UrgentPhrase, active: bool) -> UrgentPhrase:
    """Switch a phrase on or off. Asking for the state it is already in changes (and records) nothing."""
    locked = UrgentPhrase.objects.select_for_update().get(pk=phrase.pk)
    if locked.is_active != active:
        locked.is_active = active
        locked.save(update_fields=["is_active"])
        kind = UrgentPhraseChangeKind.REACTIVATED if active else UrgentPhraseChangeKind.DEACTIVATED
        _record(phrase=locked, kind=kind, by=by)
    return locked


@transaction.atomic
def urgent_phrase_change(
    *, by: User, phrase: UrgentPhrase, new_phrase: str, category: str, is_active: bool
) -> UrgentPhrase:
    """Change a phrase's words, category or state at once (the admin's form). One history row says what changed;
    nothing changed, nothing recorded."""
    locked = UrgentPhrase.objects.select_for_update().get(pk=phrase.pk)
    text, cleaned_category = phrase_checked(new_phrase, instance=locked), category_checked(category)
    changes = []
    if text != locked.phrase:
        changes.append(f'phrase "{locked.phrase}" to "{text}"')
    if cleaned_category != locked.category:
        changes.append(f'category "{locked.category}" to "{cleaned_category}"')
    switched = is_active != locked.is_active
    if not changes and not switched:
        return locked
    locked.phrase, locked.category, locked.is_active = text, cleaned_category, is_active
    locked.save(update_fields=["phrase", "category", "is_active"])
    if changes:
        _record(phrase=locked, kind=UrgentPhraseChangeKind.CHANGED, by=by, detail="; ".join(changes))
    if switched:
        kind = UrgentPhraseChangeKind.REACTIVATED if is_active else UrgentPhraseChangeKind.DEACTIVATED
        _record(phrase=locked, kind=kind, by=by)
    return locked


@transaction.atomic
def urgent_phrase_delete(*, by: User, phrase: UrgentPhrase) -> None:
    """Delete a phrase. Its interceptions keep the phrase's words (`phrase_text`), and the history keeps a row."""
    current = UrgentPhrase.objects.select_for_update().filter(pk=phrase.pk).first()
    if current is None:
        return  # already deleted (two people at once): nothing more to record
    _record(phrase=current, kind=UrgentPhraseChangeKind.DELETED, by=by)
    current.delete()
