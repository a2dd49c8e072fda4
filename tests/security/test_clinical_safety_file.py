"""The clinical safety file (docs/clinical-safety/hazard-log.md) names, for each hazard, the tests that prove its
controls. This keeps it honest: every test it names must exist, and every hazard must name at least one."""

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.database_independent

ROOT = Path(settings.BASE_DIR)
HAZARD_LOG = ROOT / "docs" / "clinical-safety" / "hazard-log.md"
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _hazards() -> dict[str, str]:
    """Each hazard's section of the log, by its id."""
    sections = re.split(r"^## (H-\d+):", HAZARD_LOG.read_text(), flags=re.MULTILINE)
    return {sections[i]: sections[i + 1] for i in range(1, len(sections), 2)}


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    }


def test_every_hazard_in_the_summary_has_a_section_that_names_tests():
    summary_ids = re.findall(r"^\| (H-\d+) \|", HAZARD_LOG.read_text(), flags=re.MULTILINE)
    hazards = _hazards()
    assert summary_ids == list(hazards), "the summary table and the sections must list the same hazards in order"
    for hazard_id, section in hazards.items():
        assert TEST_REFERENCE.search(section), f"{hazard_id} names no test"
        assert "**Controls.**" in section, f"{hazard_id} names no control"


def test_every_test_the_hazard_log_names_exists():
    missing = []
    references = TEST_REFERENCE.findall(HAZARD_LOG.read_text())
    assert len(references) >= 40
    for file_name, test_name in references:
        path = ROOT / file_name
        if not path.is_file() or test_name not in _test_functions(path):
            missing.append(f"{file_name}::{test_name}")
    assert missing == []
