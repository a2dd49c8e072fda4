"""Hashing and checking security answers: case- and space-insensitive, stored like passwords."""

import re
import unicodedata

from django.contrib.auth.hashers import check_password, make_password


def normalise_answer(answer: str) -> str:
    """ "  St. Mary's  " and "st mary's" are the same answer: fold case, accents' forms, punctuation and spaces."""
    text = unicodedata.normalize("NFKC", answer).casefold()
    text = re.sub(r"[.,'’`\-]", "", text)
    return re.sub(r"\s+", "", text)


def hash_answer(answer: str) -> str:
    return make_password(normalise_answer(answer))


def answer_matches(answer: str, answer_hash: str) -> bool:
    return check_password(normalise_answer(answer), answer_hash)
