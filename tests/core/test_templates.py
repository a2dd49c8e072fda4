"""Templates only lay out what presenters built: no template builds rows with `{% do %}` (the `jinja2.ext.do`
extension is on its way out, careportal/config/jinja2_env.py)."""

import re
from pathlib import Path

import careportal

TEMPLATE_ROOT = Path(careportal.__file__).parent
# Being rewritten on another branch, which drops its own `{% do %}`; then this list is empty and the extension goes.
ALLOWED_DO = frozenset({"patients/jinja2/patients/your_details.jinja"})
DO_STATEMENT = re.compile(r"{%[-+]?\s*do\b")


def templates() -> list[Path]:
    return sorted(TEMPLATE_ROOT.rglob("*.jinja"))


def test_templates_are_found() -> None:
    names = {path.relative_to(TEMPLATE_ROOT).as_posix() for path in templates()}
    assert "core/jinja2/layouts/base.jinja" in names
    assert names >= ALLOWED_DO, "an allowed template has moved or gone: take it off the list"


def test_no_template_uses_do_except_the_allowed_one() -> None:
    found = sorted(
        path.relative_to(TEMPLATE_ROOT).as_posix()
        for path in templates()
        if DO_STATEMENT.search(path.read_text(encoding="utf-8"))
    )
    assert set(found) <= ALLOWED_DO, f"build these rows in a presenter instead of with {{% do %}}: {found}"


def test_the_pattern_finds_every_spelling_of_do() -> None:
    for spelling in ("{% do rows.append(1) %}", "{%- do rows.append(1) -%}", "{%do x.append(1)%}", "{%+ do x %}"):
        assert DO_STATEMENT.search(spelling), spelling
    for other in ("{% for row in rows %}", "{% set done = 1 %}", "{{ do }}", "{% download %}"):
        assert not DO_STATEMENT.search(other), other
