"""Liveness: owners and heartbeats of RUNNING records, signals, sys.exit, and recovery after a process died."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import executions

import tracker
from tracker import ExecutionState
from tracker.errors import InvalidArgumentError
from tracker.sdk import _liveness

#: A worker: one run with one step that prints "inside" and then waits for a signal (or sleeps).
WORKER = """
import os, signal, sys, time
import tracker

@tracker.step
def slow(seconds: float) -> float:
    print("inside", flush=True)
    if os.environ.get("EXIT_INSIDE"):
        sys.exit(3)
    time.sleep(seconds)
    return seconds

# Python raises KeyboardInterrupt on SIGINT only if SIGINT was not ignored when it started, and a shell
# starts background jobs with SIGINT ignored: behave as a program started from a terminal, however started.
signal.signal(signal.SIGINT, signal.default_int_handler)

if os.environ.get("OWN_HANDLER"):
    def handler(signum, frame):
        print("own handler", flush=True)
        raise SystemExit(7)
    signal.signal(signal.SIGTERM, handler)

tracker.configure(store=sys.argv[1], values=sys.argv[2])
with tracker.run("worker"):
    slow(float(sys.argv[3]))
print("done", flush=True)
"""


@pytest.fixture
def worker(tmp_path: Path, store_url: str) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))

    started: list[subprocess.Popen[str]] = []

    def start(seconds: float = 60, **env: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(script), store_url, str(tmp_path / "values"), str(seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env},
        )  # fmt: skip
        started.append(process)
        assert process.stdout is not None
        assert process.stdout.readline() == "inside\n", process.communicate()
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()  # and close its pipes


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for *process*; its exit code and the rest of what it printed."""
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def the_run(store: tracker.Store) -> tracker.Context:
    (found,) = store.get_contexts_by_type("Run")
    return found


def test_a_killed_process_is_recovered_and_a_live_one_never_is(worker, store: tracker.Store) -> None:  # type: ignore[no-untyped-def]
    process = worker()
    try:
        assert tracker.recover(store).executions == []  # alive, however long it takes
        (running,) = executions(store, "slow")
        assert running.last_known_state is ExecutionState.RUNNING
        owner = running.custom_properties["tracker_owner"]
        assert owner.startswith(f"{socket.gethostname()} {process.pid} ")
    finally:
        process.kill()
        finish(process)
    planned = tracker.recover(store, dry_run=True)
    assert [i for i, _ in planned.executions] == [running.id] and len(planned.runs) == 1
    assert executions(store, "slow")[0].last_known_state is ExecutionState.RUNNING  # a dry run changes nothing
    recovered = tracker.recover(store)
    ((execution_id, reason),) = recovered.executions
    assert execution_id == running.id
    assert reason == f"abandoned: its process {process.pid} on {socket.gethostname()} ended without recording the end"
    (marked,) = executions(store, "slow")
    assert marked.last_known_state is ExecutionState.CANCELED
    assert marked.custom_properties["tracker_abandoned"] == reason
    run = the_run(store)
    assert run.custom_properties["tracker_status"] == "canceled" and "tracker_abandoned" in run.custom_properties
    assert tracker.recover(store) == tracker.Recovered([], [])  # done once


def test_the_next_process_recovers_by_itself(worker, store: tracker.Store, store_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    process = worker()
    process.kill()
    finish(process)
    done = subprocess.run([sys.executable, str(tmp_path / "worker.py"), store_url, str(tmp_path / "values"), "0"],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [e.last_known_state for e in executions(store, "slow")] == [ExecutionState.CANCELED,
                                                                        ExecutionState.COMPLETE]  # fmt: skip


def test_sigterm_records_canceled_and_ends_the_process_as_it_would(worker, store: tracker.Store) -> None:  # type: ignore[no-untyped-def]
    process = worker()
    process.send_signal(signal.SIGTERM)
    assert finish(process)[0] == -signal.SIGTERM  # killed by the signal, as without tracker
    (execution,) = executions(store, "slow")
    assert execution.last_known_state is ExecutionState.CANCELED
    assert execution.custom_properties["tracker_error_message"] == "the process got signal SIGTERM"
    run = the_run(store)
    assert run.custom_properties["tracker_status"] == "canceled"
    assert run.custom_properties["tracker_end_reason"] == "the process got signal SIGTERM"


def test_sigterm_keeps_the_programs_own_handler(worker, store: tracker.Store) -> None:  # type: ignore[no-untyped-def]
    process = worker(OWN_HANDLER="1")
    process.send_signal(signal.SIGTERM)
    assert finish(process)[:2] == (7, "own handler\n")
    assert executions(store, "slow")[0].last_known_state is ExecutionState.CANCELED


def test_sigint_records_canceled(worker, store: tracker.Store) -> None:  # type: ignore[no-untyped-def]
    process = worker()
    process.send_signal(signal.SIGINT)
    assert "KeyboardInterrupt" in finish(process)[2]
    assert executions(store, "slow")[0].last_known_state is ExecutionState.CANCELED
    assert the_run(store).custom_properties["tracker_status"] == "canceled"


def test_sys_exit_in_a_step_is_failed_never_complete(worker, store: tracker.Store) -> None:  # type: ignore[no-untyped-def]
    process = worker(EXIT_INSIDE="1")
    assert finish(process)[0] == 3
    (execution,) = executions(store, "slow")
    assert execution.last_known_state is ExecutionState.FAILED
    assert execution.custom_properties["tracker_error_type"] == "builtins.SystemExit"
    assert the_run(store).custom_properties["tracker_status"] == "failed"


def test_a_running_step_beats(tracked: tracker.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_HEARTBEAT", "0.05")
    seen: list[int] = []

    @tracker.step(name="beating")
    def beating() -> None:
        (execution,) = executions(tracked, "beating")
        seen.append(execution.last_update_time_since_epoch or 0)
        _liveness.heartbeat.beat_now()
        deadline = time.time() + 10
        while time.time() < deadline:
            time.sleep(0.05)
            (execution,) = executions(tracked, "beating")
            if (execution.last_update_time_since_epoch or 0) > seen[0]:
                seen.append(execution.last_update_time_since_epoch or 0)
                return

    with tracker.run("r"):
        beating()
    assert len(seen) == 2 and seen[1] > seen[0]
    assert _liveness.heartbeat.records(tracked) == ([], [])  # nothing left beating


def test_another_hosts_record_is_abandoned_only_when_its_heartbeat_stopped(tracked: tracker.Store) -> None:
    tracked.put_execution_type(tracker.ExecutionType("elsewhere"))
    ids = tracked.put_executions([
        tracker.Execution(type="elsewhere", last_known_state=ExecutionState.RUNNING,
                          custom_properties={"tracker_owner": "another-host 4242 -"})
        for _ in range(2)])  # fmt: skip
    time.sleep(3.0)  # both go stale, then one beats: far apart, so a loaded machine cannot blur them
    tracked.touch(executions=ids[1:])
    recovered = tracker.recover(tracked, stale_after=2.0)
    assert [i for i, _ in recovered.executions] == ids[:1]
    assert "no heartbeat from process 4242 on another-host for" in recovered.executions[0][1]
    assert [e.last_known_state for e in executions(tracked, "elsewhere")] == [ExecutionState.CANCELED,
                                                                               ExecutionState.RUNNING]  # fmt: skip
    assert tracker.recover(tracked).executions == []  # the default waits 10 minutes


def test_a_reused_pid_does_not_keep_a_record_alive(tracked: tracker.Store) -> None:
    """This process's pid, but another process start: the recorded process is gone."""
    tracked.put_execution_type(tracker.ExecutionType("reused"))
    start = _liveness._process_start(os.getpid())
    if start is None:
        pytest.skip("no /proc here: a process's start cannot be read")
    own = f"{socket.gethostname()} {os.getpid()}"
    ids = tracked.put_executions([
        tracker.Execution(type="reused", last_known_state=ExecutionState.RUNNING,
                          custom_properties={"tracker_owner": f"{own} {start[:9]}1"}),
        tracker.Execution(type="reused", last_known_state=ExecutionState.RUNNING,
                          custom_properties={"tracker_owner": f"{own} {start}"}),
        tracker.Execution(type="reused", last_known_state=ExecutionState.RUNNING),  # not tracker's: left alone
    ])  # fmt: skip
    assert [i for i, _ in tracker.recover(tracked).executions] == ids[:1]
    states = {e.id: e.last_known_state for e in tracked.get_executions_by_id(ids)}
    assert [states[i] for i in ids] == [ExecutionState.CANCELED, ExecutionState.RUNNING, ExecutionState.RUNNING]


def test_bad_recovery_settings_are_refused(tracked: tracker.Store) -> None:
    with pytest.raises(InvalidArgumentError, match="stale_after must be a positive number of seconds"):
        tracker.recover(tracked, stale_after=0)


def test_a_step_in_a_thread_still_beats_and_ends(tracked: tracker.Store) -> None:
    @tracker.step(name="threaded")
    def threaded() -> int:
        return 1

    with tracker.run("r") as run:
        handle = run.handle()

        def work() -> None:
            with tracker.attach(handle):
                threaded()

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert executions(tracked, "threaded")[0].last_known_state is ExecutionState.COMPLETE
    assert _liveness.heartbeat.records(tracked) == ([], [])


def test_the_command_recovers(worker, store: tracker.Store) -> None:  # type: ignore[no-untyped-def]
    import json

    from click.testing import CliRunner

    from tracker.cli import cli

    process = worker()
    process.kill()
    finish(process)
    (running,) = executions(store, "slow")

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["recover", *args, "--store", store.url])
        return result.exit_code, result.output

    code, output = invoke("--dry-run", "--json")
    assert code == 0 and [e["id"] for e in json.loads(output)["executions"]] == [running.id]
    code, output = invoke()
    assert code == 0 and output.startswith(f"marked execution {running.id} CANCELED: abandoned: its process")
    assert invoke() == (0, "nothing to recover: no RUNNING record of a process that is gone\n")
    code, output = invoke("--stale-after", "-1")
    assert code == 1 and "stale_after must be a positive number of seconds" in output
