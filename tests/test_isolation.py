"""Sandbox.call_staged: several stages of plugin code in one hand-off, each stage under the full time bound."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List, Optional

import pytest

from vfiocompat._isolation import HookFailed, Sandbox, call_staged_in_turn


def stages(*steps: Callable[[], Any]) -> Callable[[Callable[[Any], None]], None]:
    """A staged job: each step runs, then its value is marked."""
    def job(mark: Callable[[Any], None]) -> None:
        for step in steps:
            mark(step())

    return job


def failed(sandbox: Sandbox, job: Callable[[Callable[[Any], None]], None]) -> HookFailed:
    with pytest.raises(HookFailed) as caught:
        sandbox.call_staged(job)
    return caught.value


@pytest.mark.parametrize("timeout", [5.0, None])
def test_marks_come_back_in_order(timeout: Optional[float]) -> None:
    threads: List[str] = []

    def step(value: str) -> Callable[[], str]:
        return lambda: threads.append(threading.current_thread().name) or value

    assert Sandbox("p", timeout).call_staged(stages(step("a"), step("b"), step("c"))) == ("a", "b", "c")
    # Bounded calls run on the plugin's worker, all three in one hand-off; unbounded ones on the caller's thread.
    expected = "vfiocompat-plugin-p" if timeout else threading.current_thread().name
    assert threads == [expected] * 3


@pytest.mark.parametrize("error", [RuntimeError("boom"), SystemExit(0), GeneratorExit()])
def test_a_raising_stage_is_a_failure_after_the_marks_before_it(error: BaseException) -> None:
    def raising() -> Any:
        raise error

    failure = failed(Sandbox("p"), stages(lambda: 1, raising, lambda: 3))
    assert failure.marks == (1,) and failure.error is error and not failure.timed_out


def test_each_stage_has_the_full_bound_not_the_job() -> None:
    # Three stages of 0.15 s each under a 0.3 s bound: the job takes longer than the bound, no stage does.
    sandbox = Sandbox("p", 0.3)
    assert sandbox.call_staged(stages(*[lambda: time.sleep(0.15) or "done"] * 3)) == ("done",) * 3
    assert not sandbox.hung


def test_an_overrunning_stage_hangs_the_plugin_with_the_marks_before_it() -> None:
    release = threading.Event()
    sandbox = Sandbox("p", 0.2)
    started = time.monotonic()
    failure = failed(sandbox, stages(lambda: "imported", lambda: release.wait(30), lambda: "never"))
    elapsed = time.monotonic() - started
    try:
        assert failure.marks == ("imported",) and failure.timed_out and "0.2 s" in str(failure)
        assert sandbox.hung and 0.2 <= elapsed < 5
        # A hung plugin is not called again: the next call fails at once.
        with pytest.raises(HookFailed) as caught:
            sandbox.call(lambda: "answer")
        assert caught.value.timed_out
        later = failed(sandbox, stages(lambda: "x"))
        assert later.marks == () and later.timed_out
    finally:
        release.set()


def test_marks_after_the_overrun_do_not_change_the_answer() -> None:
    release = threading.Event()
    sandbox = Sandbox("p", 0.1)
    failure = failed(sandbox, stages(lambda: release.wait(30) and "late"))
    release.set()
    time.sleep(0.05)
    assert failure.marks == () and failure.timed_out


def test_keyboard_interrupt_goes_through_unbounded_calls() -> None:
    def interrupted() -> Any:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Sandbox("p", None).call_staged(stages(interrupted))


# -- several sandboxes' staged calls in one turn -------------------------------------------------

def test_calls_in_turn_share_one_thread_and_keep_their_own_marks_and_failures() -> None:
    threads: List[str] = []

    def record(value: Any) -> Callable[[], Any]:
        return lambda: threads.append(threading.current_thread().name) or value

    def raising() -> None:
        raise SystemExit(0)

    calls = [(Sandbox("a", 5.0), stages(record(1), record(2))), (Sandbox("b", 5.0), stages(record(3), raising)),
             (Sandbox("c", 5.0), stages(record(4)))]
    outcomes = call_staged_in_turn(calls)
    assert [marks for marks, _ in outcomes] == [(1, 2), (3,), (4,)]
    assert outcomes[0][1] is None and outcomes[2][1] is None
    failure = outcomes[1][1]
    assert failure is not None and isinstance(failure.error, SystemExit) and not failure.timed_out
    assert len(set(threads)) == 1 and threads[0] != threading.current_thread().name


def test_a_call_that_overruns_hangs_its_sandbox_and_the_rest_go_on_elsewhere() -> None:
    threads: List[int] = []
    runs: List[str] = []
    release = threading.Event()

    def named(name: str) -> Callable[[], str]:
        return lambda: (runs.append(name), threads.append(threading.get_ident())) and name

    def hang() -> None:
        release.wait(5)

    stuck = Sandbox("stuck", 0.2)
    calls = [(Sandbox("a", 0.2), stages(named("a"))), (stuck, stages(named("stuck"), hang)),
             (Sandbox("b", 0.2), stages(named("b"))), (Sandbox("c", 0.2), stages(named("c")))]
    started = time.monotonic()
    outcomes = call_staged_in_turn(calls)
    assert time.monotonic() - started < 2
    assert [marks for marks, _ in outcomes] == [("a",), ("stuck",), ("b",), ("c",)]
    failure = outcomes[1][1]
    assert failure is not None and failure.timed_out and failure.marks == ("stuck",)
    assert stuck.hung and [failure is None for _, failure in outcomes] == [True, False, True, True]
    assert threads[0] != threads[2] == threads[3]  # a new worker for the calls after the hung one
    # The hung call ends later: its worker must not go on to the calls that already ran elsewhere.
    release.set()
    time.sleep(0.3)
    assert runs == ["a", "stuck", "b", "c"]
    # A hung sandbox is not called again.
    ((marks, again),) = call_staged_in_turn([(stuck, stages(named("again")))])
    assert marks == () and again is not None and again.timed_out and "no longer called" in str(again)
