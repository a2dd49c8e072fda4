import pytest

from careportal.messaging.models import UrgentPhrase
from careportal.messaging.urgent import normalise, urgent_phrase_found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I've got CHEST PAIN!!", "ive got chest pain"),
        ("I can\u2019t breathe", "i cant breathe"),
        ("cant  breathe", "cant breathe"),
        ("  self-harm\n\tthoughts ", "self harm thoughts"),
        ("Café déjà vu", "café déjà vu"),
        # A decomposed accent (e + combining acute) reads the same as the composed one.
        ("Cafe\u0301", "café"),
        ("<script>alert(1)</script>", "script alert 1 script"),
        ("Pain ♥ 😀 here", "pain here"),
        ("ألم في الصدر", "ألم في الصدر"),
        ("!!!", ""),
        ("", ""),
    ],
)
def test_normalise(text, expected):
    assert normalise(text) == expected


@pytest.mark.django_db
class TestUrgentPhraseFound:
    @pytest.mark.parametrize(
        ("text", "phrase"),
        [
            ("I've got CHEST PAIN!!", "chest pain"),
            ("I can\u2019t breathe", "cant breathe"),
            ("I can't breathe", "cant breathe"),
            ("cant  breathe", "cant breathe"),
            ("Since last night I cannot breathe properly", "cannot breathe"),
            # The last word may take a plural ending: more people write "pains" than "pain".
            ("I keep getting chest pains at night", "chest pain"),
            ("She has had two seizures today", "seizure"),
            ("I have thoughts of self-harm", "self harm"),
            ("I want to kill myself.", "kill myself"),
        ],
    )
    def test_finds_the_default_phrases_after_normalisation(self, text, phrase):
        found = urgent_phrase_found(text)
        assert found is not None
        assert found.phrase == phrase

    @pytest.mark.parametrize(
        "text",
        [
            "Can I move my appointment to Tuesday?",
            "My chest x-ray letter has not arrived",
            # Whole words only: a phrase inside a longer word is not a match.
            "I stroked the cat",
            "The bleeding stopped yesterday and the stitches look fine",
            "",
            "   !!! ",
        ],
    )
    def test_no_match_for_ordinary_messages(self, text):
        assert urgent_phrase_found(text) is None

    def test_a_phrase_inside_an_unrelated_sentence_still_matches(self):
        # Documented choice (docs/messaging.md): matching errs towards showing the urgent-care page.
        found = urgent_phrase_found("I have a pain in my chest of drawers, it squeaks")
        assert found is not None and found.phrase == "pain in my chest"
        # The plural ending has the same cost: "fittings" reads as "fitting" (a seizure).
        found = urgent_phrase_found("The fittings in my bathroom are loose")
        assert found is not None and found.phrase == "fitting"

    def test_inactive_phrase_is_ignored(self):
        UrgentPhrase.objects.filter(phrase="chest pain").update(is_active=False)
        assert urgent_phrase_found("I've got chest pain") is None

    def test_phrases_added_with_capitals_and_punctuation_still_match(self):
        UrgentPhrase.objects.create(phrase="Can't SWALLOW!", category="breathing")
        found = urgent_phrase_found("I cant swallow anything")
        assert found is not None and found.phrase == "Can't SWALLOW!"

    def test_accents_are_kept_and_match_either_way_they_are_typed(self):
        UrgentPhrase.objects.create(phrase="douleur thoracique aiguë", category="chest pain")
        assert urgent_phrase_found("J'ai une douleur thoracique aigue\u0308 ce matin") is not None
        assert urgent_phrase_found("J'ai une douleur thoracique aiguë ce matin") is not None
        # Accents are not stripped: a different letter is a different word.
        assert urgent_phrase_found("douleur thoracique aigue") is None

    def test_the_phrase_found_earliest_in_the_text_wins(self):
        found = urgent_phrase_found("I collapsed and now I have chest pain")
        assert found is not None and found.phrase == "collapsed"

    def test_phrase_that_normalises_to_nothing_never_matches(self):
        UrgentPhrase.objects.create(phrase="!!!", category="nonsense")
        assert urgent_phrase_found("!!! hello !!!") is None
