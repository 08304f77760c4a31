"""Nothing left behind: deploy/runs.py on real processes (what a crashed instance left is found by its run folder's
record and stopped, and nothing else is: not a live instance, not a process that merely shares a recorded process
group), and the systemd unit for a real machine, which kills the service's whole control group."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy import runs
from tests.paths import ROOT

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@contextlib.contextmanager
def spawned(*commands: list[str], group: int = 0) -> Iterator[list[subprocess.Popen]]:
    """Processes in process group ``group`` (0: the first one's own), killed afterwards whatever happens."""
    processes: list[subprocess.Popen] = []
    try:
        for command in commands:
            processes.append(subprocess.Popen(command, process_group=group or (processes[0].pid if processes else 0)))
        yield processes
    finally:
        for process in processes:
            process.kill()
            process.wait()


def run_folder(temp: Path, launcher: int, groups: list[int]) -> Path:
    """A run folder whose record names ``launcher`` (pid, start time) and ``groups``, as deploy/serve.py writes it."""
    folder = temp / f"{runs.PREFIX}test"
    folder.mkdir()
    (folder / runs.RECORD).write_text(f'{{"launcher": [{launcher}, {runs.start_time(launcher)}], "groups": {groups}}}')
    return folder


def settled(ready, seconds: float = 5) -> None:
    """Wait until ``ready()`` holds (a loaded machine starts processes slowly), or fail naming the wait."""
    deadline = time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, "the spawned processes never settled"
        time.sleep(0.05)


def sleeper(folder: Path | None = None) -> list[str]:
    """A long sleep whose command line names ``folder`` (as gunicorn's names its socket there), or nothing."""
    return [sys.executable, "-c", "import time; time.sleep(60)", str(folder) if folder else "elsewhere"]


def test_what_a_crashed_instance_left_is_stopped_and_its_folder_removed(tmp_path):
    with spawned(["sleep", "60"]) as (launcher,):
        folder = tmp_path / f"{runs.PREFIX}test"
        with spawned(sleeper(folder), sleeper(), sleeper(folder)) as (master, stranger, worker):
            run_folder(tmp_path, launcher.pid, [master.pid])
            launcher.kill()
            launcher.wait()
            settled(lambda: all(runs.belongs(p.pid, folder) and runs.group(p.pid) == master.pid
                                for p in (master, worker)))  # both started as they will be found
            lines = runs.reap(tmp_path)
            assert lines == [f"serve-prod: removed {folder}, left by a crashed instance, and stopped its 2 processes"]
            assert master.wait(timeout=5) == -signal.SIGKILL and worker.wait(timeout=5) == -signal.SIGKILL
            assert stranger.poll() is None, "a process of the group that names another folder was killed"
            assert not folder.exists()


def test_a_live_instance_and_a_folder_without_a_record_are_left_alone(tmp_path):
    with spawned(["sleep", "60"]) as (launcher,):
        folder = tmp_path / f"{runs.PREFIX}test"
        with spawned(sleeper(folder)) as (master,):
            run_folder(tmp_path, launcher.pid, [master.pid])
            unrecorded = tmp_path / f"{runs.PREFIX}starting"
            unrecorded.mkdir()
            assert runs.reap(tmp_path) == []
            assert master.poll() is None and folder.exists() and unrecorded.exists()


def test_a_reused_pid_is_not_taken_for_the_launcher(tmp_path):
    """The record names the launcher by its pid and start time: another process with that pid is not it."""
    folder = run_folder(tmp_path, os.getpid(), [])
    record = (folder / runs.RECORD).read_text().replace(str(runs.start_time(os.getpid())), "1")
    (folder / runs.RECORD).write_text(record)
    assert runs.leftovers(folder) == []


@pytest.mark.parametrize("record", ["", "{}", '{"launcher": 5}', "not json"])
def test_a_record_it_cannot_read_is_left_alone(tmp_path, record):
    folder = tmp_path / f"{runs.PREFIX}odd"
    folder.mkdir()
    (folder / runs.RECORD).write_text(record)
    assert runs.leftovers(folder) is None and runs.reap(tmp_path) == []


@pytest.mark.skipif(not SYSTEMD_ANALYZE, reason="systemd-analyze is not installed here")
def test_the_systemd_unit_verifies_and_stops_its_whole_control_group(tmp_path):
    """``systemd-analyze verify`` on deploy/digits.service, its /srv/digits made this checkout (the command must
    exist): no error and no warning (a bad KillMode is only a warning)."""
    text = (ROOT / "deploy" / "digits.service").read_text()
    assert re.search(r"^KillMode=control-group$", text, re.MULTILINE)
    unit = tmp_path / "digits.service"
    unit.write_text(text.replace("/srv/digits", str(ROOT)))
    verified = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert (verified.returncode, verified.stderr) == (0, "")
