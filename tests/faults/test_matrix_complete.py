"""Every row of the matrix is proved somewhere: a test in tests/faults marked with its id,
or a command run by hand whose last result docs/faults.md records."""

import ast
import re
from pathlib import Path

from tests.faults.matrix import BY_ID, ROWS

HERE = Path(__file__).parent
DOC = HERE.parents[1] / "docs" / "faults.md"


def _marked_rows() -> dict[str, list[str]]:
    """Row id -> the test files whose `fault(...)` marks name it (read from the source)."""
    marked: dict[str, list[str]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        for call in re.finditer(r"mark\.fault\(([^)]*)\)", path.read_text()):
            for row_id in ast.literal_eval(f"[{call.group(1)}]"):
                marked.setdefault(row_id, []).append(path.name)
    return marked


def test_every_mark_names_a_row_of_the_matrix():
    unknown = set(_marked_rows()) - set(BY_ID)
    assert not unknown, f"marks naming no row: {sorted(unknown)}"


def test_every_row_has_a_test_or_a_command_run_by_hand():
    marked = _marked_rows()
    missing = [row.id for row in ROWS if row.id not in marked and not row.by_hand]
    assert not missing, f"rows with no test: {missing}"


def test_every_row_run_by_hand_has_its_last_result_in_the_docs():
    text = DOC.read_text()
    for row in ROWS:
        if row.by_hand:
            assert f"`{row.by_hand}`" in text, f"{row.id}: docs/faults.md lacks its command"
            assert re.search(rf"{re.escape(row.id)} last run: \d{{4}}-\d\d-\d\d", text), (
                f"{row.id}: docs/faults.md lacks the date and result of its last run"
            )
