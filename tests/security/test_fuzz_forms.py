"""Fuzzing every form: junk posted to every page that has one, as each kind of person who uses CarePortal (signed
out, a patient, a clinician, a helpdesk agent), and to every URL that takes ids with ids that name nothing.

The URL resolver is walked (not a hand-kept list), so a new page is fuzzed as soon as it exists. For each page
without parameters the actor can open, every `<form method="post">` on it is read from the HTML (its action, its
fields and their values) and posted with hypothesis-generated values: empty, huge, unicode, control characters
(NUL included), SQL and HTML injection strings, numbers and dates that are not, each field kept, replaced or left
out; and once without a CSRF token (a client that enforces CSRF). Every URL with parameters gets one junk POST with
ids that exist nowhere (never a server error).

What must hold: never a server error (5xx); a rejected post answers 4xx, or 200 with the form shown again and an
error message; and a rejected post writes nothing (the row count of every table is compared before and after,
logging tables aside). A post that succeeds (a redirect) may write what it writes.

Out of scope here: the Django admin (Django's own forms) and the FHIR API, which tests/fhir/test_schema_driven.py
fuzzes with schemathesis from its OpenAPI document. Examples per form: FORM_EXAMPLES (CAREPORTAL_FUZZ_FORM_EXAMPLES,
default 2, kept small for CI); the test prints how many forms and cases it ran (`pytest -s`).
"""

from __future__ import annotations

import functools
import os
import re
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Junk variants per form (plus the one without a CSRF token): few, for CI; raise it for a longer hunt.
FORM_EXAMPLES = int(os.environ.get("CAREPORTAL_FUZZ_FORM_EXAMPLES", "2"))
SKIPPED_PREFIXES = ("admin/", "fhir/", "static/", "media/", "health/", "__")
# Tables a rejected request may still write to: the access log, account security events and failed sign-in
# attempts (a wrong password is recorded, as it should be), sessions, the cache.
LOGGING_TABLES = re.compile(
    r"^(audit_|accounts_accountevent|axes_|django_session|careportal_cache|usersessions_|django_cache)"
)
ERROR_MARKERS = (b"nhsuk-error", b"There is a problem")

JUNK = st.one_of(
    st.just(""),
    st.just(" "),
    st.text(max_size=40),
    st.sampled_from(
        [
            "A" * 100_000,
            "\x00",
            "abc\x00def",
            "\x01\x02\x1b[31m\x7f",
            "' OR '1'='1'; DROP TABLE patients_patient; --",
            '"><script>alert(1)</script>',
            "{{ 7*7 }}{% debug %}",
            "../../../../etc/passwd",
            "-1",
            "0",
            "9" * 40,
            "1e309",
            "NaN",
            "2026-02-30",
            "30/02/2026",
            "\u202e\u200b\ufeff",
            "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🏥",
            "on",
            str(uuid.uuid4()),
        ]
    ),
)


# --- Walking the URLs ---------------------------------------------------------------------------------------------


def _routes() -> list[tuple[str, bool]]:
    """(route, has parameters) for every URL pattern outside SKIPPED_PREFIXES."""
    found: list[tuple[str, bool]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and not route.startswith(SKIPPED_PREFIXES):
                found.append((route, "<" in route or "(?P" in route))

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


_CONVERTER = re.compile(r"<(?:(\w+):)?\w+>")


def _with_ids_that_name_nothing(route: str) -> str | None:
    if route.startswith("^") or "(?P" in route:
        return None  # allauth's regular-expression routes: reached through its own pages
    junk = {"int": "987654321", "uuid": str(uuid.UUID(int=12345)), "slug": "nothing-here", "path": "nothing/here"}
    return "/" + _CONVERTER.sub(lambda m: junk.get(m.group(1) or "str", "nothing-here"), route)


# --- Reading forms ------------------------------------------------------------------------------------------------


class _Forms(HTMLParser):
    """Every POST form of a page: its action and its fields with their values as the page gives them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            if attributes.get("method", "get").lower() == "post":
                self._current = {"action": attributes.get("action", ""), "fields": {}}
                self.forms.append(self._current)
            return
        if self._current is None or not attributes.get("name"):
            return
        name = attributes["name"]
        if tag in ("input", "button"):
            kind = attributes.get("type", "text").lower()
            if kind in ("checkbox", "radio") and name in self._current["fields"]:
                return  # the first choice stands for the field
            self._current["fields"][name] = attributes.get("value", "on" if kind in ("checkbox", "radio") else "")
        elif tag in ("textarea", "select"):
            self._current["fields"].setdefault(name, "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def post_forms(page: bytes, url: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Forms()
    parser.feed(page.decode("utf-8", errors="replace"))
    forms = []
    for form in parser.forms:
        action = urlsplit(form["action"])
        if action.netloc:
            continue  # posts to another site
        forms.append((action.path or url, form["fields"]))
    return forms


# --- What a request wrote -----------------------------------------------------------------------------------------


@functools.cache
def _counted_tables_sql() -> str:
    tables = sorted(
        {model._meta.db_table for model in apps.get_models() if model._meta.managed}
        & set(connection.introspection.table_names())
    )
    quoted = connection.ops.quote_name
    return " UNION ALL ".join(
        f"SELECT '{table}', count(*) FROM {quoted(table)}"  # noqa: S608 - our own table names
        for table in tables
        if not LOGGING_TABLES.match(table)
    )


def row_counts() -> dict[str, int]:
    """Rows in every table the project's models use, logging tables aside, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_counted_tables_sql())
        return dict(cursor.fetchall())


def check_answer(response: Any, *, where: str, before: dict[str, int]) -> None:
    status = response.status_code
    assert status < 500, f"{where}: {status}"
    if 300 <= status < 400:
        return  # accepted (or sent to sign in): what it wrote is the view's business
    if status == 200:
        body = response.content
        assert any(marker in body for marker in ERROR_MARKERS), f"{where}: 200 without an error message"
    after = row_counts()
    changed = {table: (count, after.get(table)) for table, count in before.items() if after.get(table) != count}
    assert not changed, f"{where}: answered {status} yet wrote {changed}"


def _form_data(names: list[str], fields: dict[str, str], choices: list[tuple[str, str]]) -> dict[str, str]:
    """Each field kept as the page gave it, replaced by junk, or left out."""
    data = {}
    for name, (choice, junk) in zip(names, choices, strict=True):
        if choice == "keep":
            data[name] = fields[name]
        elif choice == "junk":
            data[name] = junk
    return data


def _fuzzer(post: Any, names: list[str], fields: dict[str, str]) -> Any:
    """A hypothesis test posting FORM_EXAMPLES junk variants of one form through `post`."""

    @settings(max_examples=FORM_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        choices=st.lists(
            st.tuples(st.sampled_from(["keep", "junk", "leave out"]), JUNK), min_size=len(names), max_size=len(names)
        )
    )
    def post_junk(choices: list[tuple[str, str]]) -> None:
        post(_form_data(names, fields, choices))

    return post_junk


# --- The actors and the test --------------------------------------------------------------------------------------


@pytest.fixture
def actor_client(request: pytest.FixtureRequest) -> Iterator[tuple[Client, Any]]:
    if request.param == "anonymous":
        yield Client(), None
        return
    client = request.getfixturevalue(f"{request.param}_client")
    user = {
        "patient": lambda: request.getfixturevalue("patient").user,
        "clinician": lambda: request.getfixturevalue("clinician_membership").user,
        "helpdesk": lambda: request.getfixturevalue("helpdesk_user"),
    }[request.param]()
    yield client, user


ACTORS = ["anonymous", "patient", "clinician", "helpdesk"]


@pytest.mark.parametrize("actor_client", ACTORS, indirect=True)
@pytest.mark.django_db
def test_junk_posted_to_every_form_is_refused_clearly_and_writes_nothing(actor_client: tuple[Client, Any]) -> None:
    client, user = actor_client
    cases = 0

    def sign_in_again() -> None:
        # A form may sign the actor out (sign-out, "sign out everywhere"): each case starts signed in again.
        if user is not None and "_auth_user_id" not in client.session:
            client.force_login(user)

    forms: dict[str, dict[str, str]] = {}
    for route, has_parameters in _routes():
        if has_parameters:
            url = _with_ids_that_name_nothing(route)
            if url is None:
                continue
            sign_in_again()
            response = client.post(url, {"junk": "' OR 1=1 --", "csrfmiddlewaretoken": "x"})
            # Ids that name nothing: refused (404, 403, 405…) or sent elsewhere, never a server error.
            assert response.status_code < 500, f"POST {route} (ids that name nothing): {response.status_code}"
            cases += 1
            continue
        sign_in_again()
        response = client.get("/" + route)
        assert response.status_code < 500, f"GET {route}: {response.status_code}"
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            for action, fields in post_forms(response.content, "/" + route):
                forms.setdefault(action, fields)

    for action, fields in sorted(forms.items()):
        names = sorted(name for name in fields if name != "csrfmiddlewaretoken")

        def post(data: dict[str, str], action: str = action) -> None:
            nonlocal cases
            sign_in_again()
            before = row_counts()
            check_answer(client.post(action, data), where=f"POST {action} {sorted(data)}", before=before)
            cases += 1

        post_junk = _fuzzer(post, names, fields)
        post_junk()
        # Without a CSRF token, from a client that checks it: refused, nothing written.
        csrf_client = Client(enforce_csrf_checks=True)
        if user is not None:
            csrf_client.force_login(user)
        before = row_counts()
        response = csrf_client.post(action, {name: fields[name] for name in names})
        assert response.status_code == 403, f"POST {action} without a CSRF token: {response.status_code}"
        check_answer(response, where=f"POST {action} without a CSRF token", before=before)
        cases += 1
    print(f"{len(forms)} forms, {cases} cases")
    assert forms or user is None
