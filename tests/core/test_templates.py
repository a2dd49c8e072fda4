"""Templates only lay out what presenters built: no template builds rows with `{% do %}`, and the environment
(careportal/config/jinja2_env.py) no longer loads the `jinja2.ext.do` extension that allowed it."""

import re
from pathlib import Path

import pytest

import careportal

TEMPLATE_ROOT = Path(careportal.__file__).parent
DO_STATEMENT = re.compile(r"{%[-+]?\s*do\b")


def templates() -> list[Path]:
    return sorted(TEMPLATE_ROOT.rglob("*.jinja"))


def test_templates_are_found() -> None:
    names = {path.relative_to(TEMPLATE_ROOT).as_posix() for path in templates()}
    assert "core/jinja2/layouts/base.jinja" in names


def test_no_template_uses_do() -> None:
    found = sorted(
        path.relative_to(TEMPLATE_ROOT).as_posix()
        for path in templates()
        if DO_STATEMENT.search(path.read_text(encoding="utf-8"))
    )
    assert not found, f"build these rows in a presenter instead of with {{% do %}}: {found}"


def test_the_pattern_finds_every_spelling_of_do() -> None:
    for spelling in ("{% do rows.append(1) %}", "{%- do rows.append(1) -%}", "{%do x.append(1)%}", "{%+ do x %}"):
        assert DO_STATEMENT.search(spelling), spelling
    for other in ("{% for row in rows %}", "{% set done = 1 %}", "{{ do }}", "{% download %}"):
        assert not DO_STATEMENT.search(other), other


def test_the_environment_has_no_do_statement() -> None:
    from django.template import engines
    from jinja2 import TemplateSyntaxError

    environment = engines["jinja2"].env  # type: ignore[attr-defined]
    with pytest.raises(TemplateSyntaxError):
        environment.from_string("{% set rows = [] %}{% do rows.append(1) %}")
