"""The urgent-phrase rules (issue 10): a minimum of four letters, whole-word matching through one cached pattern,
the preview count of recent messages a phrase would have stopped (with a confirmation when it is many), and the
history of every change, on the staff page and in the admin."""

import datetime
import logging

import pytest
from django.urls import reverse
from django.utils import timezone

from careportal.messaging import inbox_selectors, urgent
from careportal.messaging.inbox_selectors import urgent_phrase_preview
from careportal.messaging.models import AuthorRole, UrgentPhrase, UrgentPhraseChange, UrgentPhraseChangeKind
from careportal.messaging.phrase_services import (
    PhraseError,
    urgent_phrase_add,
    urgent_phrase_change,
    urgent_phrase_delete,
    urgent_phrase_set_active,
)
from careportal.messaging.urgent import phrase_problem, urgent_phrase_found
from tests.accounts.factories import UserFactory
from tests.messaging.factories import MessageFactory, ThreadFactory

pytestmark = pytest.mark.django_db

PHRASES = reverse("messaging:urgent-phrases")
HISTORY = reverse("messaging:urgent-phrases-history")


def _messages(count: int, body: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
    thread = ThreadFactory()
    for _ in range(count):
        MessageFactory(thread=thread, body=body, **kwargs)


# The minimum length ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phrase", ["1", "b", "x", "999", "!!!", "a b c", "fit", "od", "  ", "1234567"])
def test_phrases_with_fewer_than_four_letters_are_refused(phrase):
    assert phrase_problem(phrase) == urgent.TOO_SHORT_MESSAGE


@pytest.mark.parametrize("phrase", ["pain", "having a fit", "999 emergency", "ألم في الصدر", "naïve", "Can't breathe"])
def test_phrases_with_four_letters_or_more_are_accepted(phrase):
    assert phrase_problem(phrase) is None


def test_the_service_refuses_a_short_phrase_too():
    with pytest.raises(PhraseError, match="at least 4 letters"):
        urgent_phrase_add(by=UserFactory(), phrase="1", category="x")


def test_a_short_phrase_saved_before_the_rule_never_matches_and_the_page_says_so(helpdesk_client):
    UrgentPhrase.objects.create(phrase="1", category="legacy")
    UrgentPhrase.objects.create(phrase="x", category="legacy")
    assert urgent_phrase_found("Take 1 tablet before your x-ray") is None
    assert "Never matches: fewer than 4 letters" in helpdesk_client.get(PHRASES).content.decode()


# Whole words, through one cached pattern ------------------------------------------------------------------------


def test_a_phrase_matches_whole_words_only():
    UrgentPhrase.objects.all().delete()
    UrgentPhrase.objects.create(phrase="pain", category="pain")
    assert urgent_phrase_found("I have been painting the fence") is None
    assert urgent_phrase_found("Spain was lovely") is None
    found = urgent_phrase_found("It is a PAIN.")
    assert found is not None and found.phrase == "pain"
    # The last word's plural still matches.
    assert urgent_phrase_found("the pains are back") is not None


def test_chest_pain_matches_a_sentence_with_punctuation():
    found = urgent_phrase_found("I have chest pain.")
    assert found is not None and found.phrase == "chest pain"


def test_unicode_letters_are_word_characters():
    UrgentPhrase.objects.create(phrase="ألم في الصدر", category="chest pain")
    assert urgent_phrase_found("عندي ألم في الصدر منذ الصباح") is not None
    # A longer word that starts with the phrase's last word is a different word.
    assert urgent_phrase_found("عندي ألم في الصدرية") is None
    UrgentPhrase.objects.create(phrase="naïve pain", category="test")
    assert urgent_phrase_found("a naïve painter") is None


def test_the_pattern_is_compiled_once_and_again_only_after_a_change(django_assert_num_queries):
    urgent_phrase_found("chest pain")
    first = urgent._matcher
    with django_assert_num_queries(1):
        urgent_phrase_found("I have chest pain")
    assert urgent._matcher is first

    UrgentPhrase.objects.create(phrase="purple fingers", category="circulation")
    found = urgent_phrase_found("My purple fingers hurt")
    assert found is not None and found.phrase == "purple fingers"
    assert urgent._matcher is not first

    second = urgent._matcher
    UrgentPhrase.objects.filter(phrase="purple fingers").update(is_active=False)
    assert urgent_phrase_found("My purple fingers hurt") is None
    assert urgent._matcher is not second

    UrgentPhrase.objects.filter(phrase="chest pain").update(phrase="chest pains now")
    found = urgent_phrase_found("I have chest pain")
    assert found is None or found.phrase != "chest pain"


def test_the_longest_phrase_starting_at_the_same_place_wins():
    UrgentPhrase.objects.create(phrase="chest pain radiating", category="chest pain")
    found = urgent_phrase_found("chest pain radiating to my arm")
    assert found is not None and found.phrase == "chest pain radiating"


# The preview count ----------------------------------------------------------------------------------------------


def test_the_preview_counts_matches_among_recent_patient_and_proxy_messages():
    _messages(18, "Can I move my appointment?")
    _messages(1, "My back hurts a lot")
    _messages(1, "My back hurts", author_role=AuthorRole.PROXY)
    # Not counted: the team's own messages, and anything older than 30 days.
    _messages(5, "My back hurts", author_role=AuthorRole.STAFF)
    _messages(5, "My back hurts", created_at=timezone.now() - datetime.timedelta(days=31))

    preview = urgent_phrase_preview(phrase="back hurts")
    assert (preview.matched, preview.examined) == (2, 20)
    assert preview.text == "This phrase would have matched 2 of the last 20 messages sent in the last 30 days."
    assert preview.needs_confirmation  # 10% is more than 5%

    assert urgent_phrase_preview(phrase="hurts a lot").matched == 1
    assert urgent_phrase_preview(phrase="back").matched == 2  # whole words: "backache" would not count


def test_the_preview_asks_for_confirmation_above_10_messages_or_5_percent():
    _messages(200, "Can I move my appointment?")
    _messages(10, "My back hurts")
    assert not urgent_phrase_preview(phrase="back hurts").needs_confirmation  # 10 of 210: under both
    _messages(1, "My back hurts")
    assert urgent_phrase_preview(phrase="back hurts").needs_confirmation  # 11 messages


def test_the_preview_reads_at_most_the_latest_5000_messages_in_one_query(monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(inbox_selectors, "PREVIEW_MAX_MESSAGES", 7)
    _messages(12, "hello there")
    with django_assert_num_queries(1):
        preview = urgent_phrase_preview(phrase="hello there")
    assert (preview.matched, preview.examined) == (7, 7)
    assert inbox_selectors.PREVIEW_DAYS == 30


def test_checking_a_phrase_shows_the_count_and_adds_nothing(helpdesk_client, caplog):
    _messages(3, "Secret words about my rash")
    caplog.set_level(logging.DEBUG)
    response = helpdesk_client.post(PHRASES, {"add-phrase": "about my rash", "add-category": "skin", "action": "check"})
    assert response.status_code == 200
    assert "This phrase would have matched 3 of the last 3 messages sent in the last 30 days." in (
        response.content.decode()
    )
    assert not UrgentPhrase.objects.filter(phrase="about my rash").exists()
    assert not UrgentPhraseChange.objects.exists()
    assert "Secret words" not in caplog.text and "Secret words" not in response.content.decode()


def test_a_phrase_that_would_match_many_messages_needs_confirming(helpdesk_client):
    _messages(12, "Thank you for your help")
    data = {"add-phrase": "thank you", "add-category": "none", "action": "add"}

    refused = helpdesk_client.post(PHRASES, data)
    text = refused.content.decode()
    assert refused.status_code == 400
    assert "This phrase would have matched 12 of the last 12 messages sent in the last 30 days." in text
    assert "tick the box to confirm" in text
    assert 'name="add-confirm"' in text
    assert not UrgentPhrase.objects.filter(phrase="thank you").exists()

    confirmed = helpdesk_client.post(PHRASES, {**data, "add-confirm": "on"})
    assert confirmed.status_code == 302
    assert UrgentPhrase.objects.filter(phrase="thank you").exists()


def test_a_rare_phrase_is_added_at_once_and_the_message_gives_its_count(helpdesk_client):
    _messages(30, "Can I move my appointment?")
    response = helpdesk_client.post(
        PHRASES, {"add-phrase": "purple fingers", "add-category": "circulation", "action": "add"}, follow=True
    )
    assert "would have matched 0 of the last 30 messages" in response.content.decode()
    assert UrgentPhrase.objects.filter(phrase="purple fingers").exists()


# The history ----------------------------------------------------------------------------------------------------


def test_the_staff_page_records_who_added_and_switched_a_phrase(helpdesk_client, helpdesk_user):
    helpdesk_client.post(PHRASES, {"add-phrase": "Blue lips!", "add-category": "breathing"})
    phrase = UrgentPhrase.objects.get(phrase="blue lips")
    helpdesk_client.post(PHRASES, {"phrase-phrase": phrase.pk})
    helpdesk_client.post(PHRASES, {"phrase-phrase": phrase.pk})  # already off: nothing more recorded
    helpdesk_client.post(PHRASES, {"phrase-phrase": phrase.pk, "phrase-active": "on"})

    changes = list(UrgentPhraseChange.objects.order_by("pk"))
    assert [c.kind for c in changes] == [
        UrgentPhraseChangeKind.ADDED,
        UrgentPhraseChangeKind.DEACTIVATED,
        UrgentPhraseChangeKind.REACTIVATED,
    ]
    assert all(c.changed_by == helpdesk_user and c.changed_by_display == "Sam Reid" for c in changes)
    assert all(c.phrase == phrase and c.phrase_text == "blue lips" for c in changes)

    page = helpdesk_client.get(HISTORY)
    text = page.content.decode()
    assert page.status_code == 200
    assert text.count("<bdi>blue lips</bdi>") == 3
    assert "Added" in text and "Deactivated" in text and "Reactivated" in text and "Sam Reid" in text
    assert HISTORY in helpdesk_client.get(PHRASES).content.decode()


def test_changes_and_deletions_are_recorded_with_what_changed():
    by = UserFactory(display_name="Alex Admin")
    phrase = urgent_phrase_add(by=by, phrase="blue lips", category="breathing")
    urgent_phrase_change(by=by, phrase=phrase, new_phrase="Blue LIPS", category="breathing", is_active=True)
    assert UrgentPhraseChange.objects.count() == 1, "nothing changed, nothing recorded"
    urgent_phrase_change(by=by, phrase=phrase, new_phrase="grey lips", category="colour", is_active=False)
    urgent_phrase_set_active(by=by, phrase=phrase, active=True)
    urgent_phrase_delete(by=by, phrase=phrase)

    kinds = list(UrgentPhraseChange.objects.order_by("pk").values_list("kind", "phrase_text", "detail"))
    assert kinds == [
        ("added", "blue lips", ""),
        ("changed", "grey lips", 'phrase "blue lips" to "grey lips"; category "breathing" to "colour"'),
        ("deactivated", "grey lips", ""),
        ("reactivated", "grey lips", ""),
        ("deleted", "grey lips", ""),
    ]
    assert not UrgentPhrase.objects.filter(pk=phrase.pk).exists()
    assert UrgentPhraseChange.objects.filter(phrase__isnull=True).count() == 5, "the history outlives the phrase"


def test_the_history_page_is_paged_newest_first(helpdesk_client, django_assert_max_num_queries):
    by = UserFactory()
    for number in range(55):
        urgent_phrase_add(by=by, phrase=f"phrase number {number}", category="test")
    # The session, the user and the page: none per row.
    with django_assert_max_num_queries(15):
        first = helpdesk_client.get(HISTORY).content.decode()
    assert first.count("<bdi>phrase number") == 50
    assert first.index("phrase number 54<") < first.index("phrase number 10<")
    second = helpdesk_client.get(HISTORY + "?page=2").content.decode()
    assert second.count("<bdi>phrase number") == 5 and "phrase number 0<" in second


@pytest.mark.parametrize("who", ["clinician_client", "patient_client", "proxy_client"])
def test_only_the_helpdesk_and_superusers_see_the_history(request, who, admin_client):
    assert request.getfixturevalue(who).get(HISTORY).status_code == 404
    assert admin_client.get(HISTORY).status_code == 200


# The admin --------------------------------------------------------------------------------------------------


def test_the_admin_records_its_changes_and_deletions(admin_client, admin_user):
    add = reverse("admin:messaging_urgentphrase_add")
    assert admin_client.post(add, {"phrase": "1", "category": "x", "is_active": "on"}).status_code == 200
    assert not UrgentPhrase.objects.filter(phrase="1").exists()

    assert (
        admin_client.post(add, {"phrase": "Blue lips", "category": "breathing", "is_active": "on"}).status_code == 302
    )
    phrase = UrgentPhrase.objects.get(phrase="blue lips")
    change = reverse("admin:messaging_urgentphrase_change", args=[phrase.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and "Added" in page.content.decode()

    inline = {
        "changes-TOTAL_FORMS": "1",
        "changes-INITIAL_FORMS": "1",
        "changes-MIN_NUM_FORMS": "0",
        "changes-MAX_NUM_FORMS": "1000",
        "changes-0-id": str(UrgentPhraseChange.objects.get().pk),
        "changes-0-phrase": str(phrase.pk),
    }
    response = admin_client.post(change, {"phrase": "grey lips", "category": "breathing", **inline})
    assert response.status_code == 302, response.content.decode()[:2000]

    delete = reverse("admin:messaging_urgentphrase_delete", args=[phrase.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302

    kinds = list(UrgentPhraseChange.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == ["added", "changed", "deactivated", "deleted"]
    assert set(UrgentPhraseChange.objects.values_list("changed_by", flat=True)) == {admin_user.pk}

    history = admin_client.get(reverse("admin:messaging_urgentphrasechange_changelist"))
    assert history.status_code == 200 and "grey lips" in history.content.decode()
    assert admin_client.get(reverse("admin:messaging_urgentphrasechange_add")).status_code in (403, 404)


def test_the_admins_bulk_delete_records_each_phrase(admin_client):
    phrases = [UrgentPhrase.objects.create(phrase=f"bulk phrase {n}", category="test") for n in range(2)]
    response = admin_client.post(
        reverse("admin:messaging_urgentphrase_changelist"),
        {"action": "delete_selected", "_selected_action": [p.pk for p in phrases], "post": "yes"},
    )
    assert response.status_code == 302
    assert UrgentPhraseChange.objects.filter(kind="deleted").count() == 2
