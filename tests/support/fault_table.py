"""The fault matrix as a table at the end of a run: for each row of tests/faults/matrix.py,
the tests marked `@pytest.mark.fault("<ID>")` that ran, their result and the figures they
recorded with the `figures` fixture. `--fault-table PATH` also writes it as Markdown (what
`make faults` puts in docs/faults.md)."""

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.faults.matrix import BY_ID, ROWS

FIGURES = "fault_figures"


@dataclass
class _RowResult:
    passed: int = 0
    failed: int = 0
    figures: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        if self.failed:
            return f"FAILED ({self.failed} of {self.passed + self.failed})"
        return f"passed ({self.passed})"


class Figures:
    """What a fault test measured, for the table: `figures.add("p99 ack", "12 ms")`."""

    def __init__(self, item: pytest.Item) -> None:
        self._item = item

    def add(self, name: str, value: object) -> None:
        self._item.user_properties.append((FIGURES, f"{name} {value}"))


class FaultTable:
    def __init__(self, markdown_path: str | None) -> None:
        self.markdown_path = markdown_path
        self.rows: dict[str, _RowResult] = defaultdict(_RowResult)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call):
        outcome = yield
        report = outcome.get_result()
        ids = [row_id for mark in item.iter_markers("fault") for row_id in mark.args]
        counted = report.when == "call" or (report.when == "setup" and not report.passed)
        if not ids or not counted:
            return
        for row_id in ids:
            assert row_id in BY_ID, f"{item.nodeid}: no matrix row {row_id!r}"
            row = self.rows[row_id]
            if report.passed:
                row.passed += 1
            else:
                row.failed += 1
            row.figures += [value for name, value in item.user_properties if name == FIGURES]

    def lines(self) -> list[str]:
        out = ["| Row | Fault | Invariant | Result | Figures |", "| --- | --- | --- | --- | --- |"]
        for row in ROWS:
            if row.by_hand:
                result = f"by hand: `{row.by_hand}` (last result below)"
            elif row.id in self.rows:
                result = self.rows[row.id].result
            else:
                result = "not run"
            figures = "; ".join(self.rows[row.id].figures) if row.id in self.rows else ""
            out.append(f"| {row.id} | {row.fault} | {row.invariant} | {result} | {figures} |")
        return out

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.rows:
            return
        terminalreporter.section("fault and attack matrix")
        for line in self.lines():
            terminalreporter.write_line(line)
        if self.markdown_path:
            _write_table(Path(self.markdown_path), self.lines())


BEGIN, END = "<!-- fault-table:begin -->", "<!-- fault-table:end -->"


def _write_table(path: Path, lines: list[str]) -> None:
    """Replace the table between the markers, keeping the prose around it."""
    text = path.read_text() if path.exists() else f"{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(head + BEGIN + "\n" + "\n".join(lines) + "\n" + END + tail)


def pytest_addoption(parser) -> None:
    parser.addoption("--fault-table", default=None, help="also write the fault table here")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "fault(*rows): proves rows of tests/faults/matrix.py")
    config.pluginmanager.register(FaultTable(config.getoption("--fault-table")), "fault-table")


@pytest.fixture
def figures(request) -> Figures:
    return Figures(request.node)
