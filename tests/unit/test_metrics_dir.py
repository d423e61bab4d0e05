"""PROMETHEUS_MULTIPROC_DIR's upkeep by `serve` and `worker`: emptied at start-up of whichever
starts first, never under a live process; a dead process loses its live gauges only."""

import subprocess
import sys

from workers.metrics import prepare_multiprocess_dir, process_exited


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_previous_runs_files_are_emptied_at_start_up(tmp_path):
    pid = _dead_pid()
    for name in (f"counter_{pid}.db", f"histogram_{pid}.db", f"gauge_livesum_{pid}.db"):
        (tmp_path / name).write_bytes(b"")
    prepare_multiprocess_dir(str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_files_are_kept_while_a_process_writing_there_lives(tmp_path):
    """The other command started first: its processes' files are this run's."""
    dead = _dead_pid()
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as alive:
        try:
            (tmp_path / f"counter_{alive.pid}.db").write_bytes(b"")
            (tmp_path / f"counter_{dead}.db").write_bytes(b"")
            prepare_multiprocess_dir(str(tmp_path))
            assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
                [f"counter_{alive.pid}.db", f"counter_{dead}.db"]
            )
        finally:
            alive.kill()


def test_the_directory_is_created_when_missing(tmp_path):
    prepare_multiprocess_dir(str(tmp_path / "metrics"))
    assert (tmp_path / "metrics").is_dir()


def test_a_dead_process_loses_its_live_gauges_and_keeps_its_counters(tmp_path):
    pid = _dead_pid()
    (tmp_path / f"counter_{pid}.db").write_bytes(b"")
    (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
    process_exited(pid, str(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == [f"counter_{pid}.db"]


def test_nothing_happens_without_a_directory():
    prepare_multiprocess_dir(None)
    process_exited(12345, None)
