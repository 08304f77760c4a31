"""The run folders of ``make serve-prod``: each records its processes, so the next start can stop what a crash left.

A launcher killed outright (SIGKILL, the OOM killer, a power cut of its terminal) cannot clean up. Its
masters are sent SIGTERM by the kernel (deploy/serve.py), but a master killed with it leaves its workers
behind: an nginx worker of a killed master keeps listening on the port and answers 502 for ever. So every
run folder holds ``run.json``: the launcher's pid and start time, and the process group of each master it
started. Each start of serve-prod first looks at every run folder of this user; where the launcher is gone,
whatever is left in its groups is killed and the folder removed, before anything binds the port.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

PREFIX = "serve-prod-"
RECORD = "run.json"
GONE_WAIT_S = 5


def proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (field 3 on: state, ppid, pgrp, ...); None if there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def start_time(pid: int) -> int | None:
    """Clock ticks from boot to the process's start: with the pid, it names one process, never a reused pid."""
    fields = proc_stat(pid)
    return int(fields[19]) if fields else None


def group(pid: int) -> int | None:
    """The process group: a master's workers stay in their master's group (its pid) after it is killed."""
    fields = proc_stat(pid)
    return int(fields[2]) if fields else None


def running(pid: int) -> bool:
    """Alive, not a zombie waiting to be reaped (it holds no port and serves nothing)."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] not in "ZX"


def alive(pid: int, started: int) -> bool:
    return running(pid) and start_time(pid) == started


def record(run: Path, groups: list[int]) -> None:
    """Write who runs in ``run``: this launcher and the process group of each master (its pid), atomically."""
    pid = os.getpid()
    temporary = run / f".{RECORD}.tmp"
    temporary.write_text(json.dumps({"launcher": [pid, start_time(pid)], "groups": groups}))
    temporary.replace(run / RECORD)


def belongs(pid: int, run: Path) -> bool:
    """The process works in ``run`` (nginx: its working folder) or names it (gunicorn: its socket there)."""
    try:
        if os.readlink(f"/proc/{pid}/cwd") == str(run):
            return True
        return str(run).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone, or not ours to look at
        return False


def leftovers(run: Path) -> list[int] | None:
    """The processes a crashed instance left in its groups; None if the folder is not ours or its launcher runs."""
    try:
        if run.stat().st_uid != os.geteuid():
            return None
        written = json.loads((run / RECORD).read_text())
        (launcher, started), groups = written["launcher"], set(written["groups"])
    except (OSError, ValueError, KeyError, TypeError):  # no record yet (a launcher starting), or not one of ours
        return None
    if alive(launcher, started):
        return None
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [pid for pid in pids if group(pid) in groups and running(pid) and belongs(pid, run)]


def kill_and_wait(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + GONE_WAIT_S
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def reap(temp: Path) -> list[str]:
    """Stop what every crashed instance under ``temp`` left and remove its folder; one line for each."""
    lines = []
    for run in sorted(temp.glob(f"{PREFIX}*")):
        found = leftovers(run)
        if found is None:
            continue
        kill_and_wait(found)
        shutil.rmtree(run, ignore_errors=True)
        lines.append(f"serve-prod: removed {run}, left by a crashed instance, and stopped its {len(found)} processes")
    return lines
