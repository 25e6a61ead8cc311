"""Running a plugin's code so that nothing it does escapes: exceptions, exits or a hang.

A plugin is foreign code. Each one gets a :class:`Sandbox`: its calls run on the plugin's own
worker thread and are waited for at most ``timeout`` seconds; what they raise (``SystemExit``
included) comes back as :class:`HookFailed`. A plugin that overruns once is *hung*: it is never
called again, so a check pays its timeout at most once per plugin and every other plugin is still
judged. Python cannot stop a thread, so the hung call runs on in the background (as a daemon, it
does not hold the process open); a plugin that calls ``os._exit`` or blocks in C code while
holding the GIL cannot be stopped in-process at all (see docs/limits.md).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .errors import UsageError

__all__ = [
    "DEFAULT_TIMEOUT",
    "TIMEOUT_ENV",
    "HookFailed",
    "Sandbox",
    "Worker",
    "call_staged_in_turn",
    "call_plugin",
    "describe_error",
    "timeout_from_environment",
]

#: Seconds one plugin call may take: far above any honest hook, short enough for libvirt's migrate hook.
DEFAULT_TIMEOUT = 5.0
#: Seconds as a decimal number, or ``off`` for no bound (calls then run on the caller's thread).
TIMEOUT_ENV = "VFIOCOMPAT_PLUGIN_TIMEOUT"
_MAX_TIMEOUT = 3600.0


def describe_error(error: BaseException) -> str:
    """``Type: message`` on one line, for a failure recorded against a plugin."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class HookFailed(Exception):
    """A plugin's code raised or overran its time; ``error`` is what it raised (SystemExit included).

    From :meth:`Sandbox.call_staged`, ``marks`` are the values marked before the stage that failed.
    """

    def __init__(self, error: BaseException, *, timed_out: bool = False, marks: Tuple[Any, ...] = ()) -> None:
        super().__init__(describe_error(error))
        self.error = error
        self.timed_out = timed_out
        self.marks = marks


def call_plugin(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call into a plugin on this thread so that nothing it raises escapes but :class:`HookFailed`.

    SystemExit and GeneratorExit are caught too: a plugin must not end a check, least of all with
    exit status 0. Only KeyboardInterrupt, the user's own request, goes through.
    """
    try:
        return function(*args, **kwargs)
    except (KeyboardInterrupt, HookFailed):
        raise
    except BaseException as error:  # noqa: BLE001 - isolation is the point
        raise HookFailed(error) from None


def timeout_from_environment(value: Optional[str] = None) -> Optional[float]:
    """The plugin time bound from ``VFIOCOMPAT_PLUGIN_TIMEOUT`` (or ``value``): seconds, or None for ``off``."""
    text = os.environ.get(TIMEOUT_ENV) if value is None else value
    if text is None or not text.strip():
        return DEFAULT_TIMEOUT
    if text.strip().lower() == "off":
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= _MAX_TIMEOUT:
        raise UsageError(f"{TIMEOUT_ENV}={text!r}: the plugin time bound must be seconds in (0, {_MAX_TIMEOUT:g}]"
                         " or 'off'")
    return seconds


class _Job:
    __slots__ = ("convert", "done", "error", "function", "value")

    def __init__(self, function: Callable[[], Any], convert: Optional[Callable[[Any], Any]]) -> None:
        self.function = function
        self.convert = convert
        self.done = threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            value = self.function()
            # Converting to plain values happens here too: a returned object's methods are plugin code.
            self.value = value if self.convert is None else self.convert(value)
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            self.error = error
        finally:
            self.done.set()


class Worker:
    """A thread that runs jobs in turn, started with the first. A job that overruns keeps it for good."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: Optional[_Queue] = None

    def submit(self, job: _Job) -> None:
        if self._jobs is None:
            self._jobs = _Queue()
            threading.Thread(target=_work, args=(self._jobs,), name=self.name, daemon=True).start()
        self._jobs.put(job)


class Sandbox:
    """One plugin's calls, run on its own worker thread, each bounded by ``timeout`` seconds."""

    def __init__(self, name: str, timeout: Optional[float] = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self.timeout = timeout
        self.hung = False
        self._worker = Worker(f"vfiocompat-plugin-{name}")

    def call(self, function: Callable[..., Any], *args: Any, convert: Optional[Callable[[Any], Any]] = None,
             **kwargs: Any) -> Any:
        """``convert(function(*args, **kwargs))`` inside the plugin's isolation; raise :class:`HookFailed`."""
        def job() -> Any:
            return function(*args, **kwargs)

        return self._outcome(self._submit(_Job(job, convert)))

    def call_each(self, function: Callable[[Any], Any], items: Sequence[Any],
                  convert: Optional[Callable[[Any], Any]] = None) -> List[Tuple[bool, Any]]:
        """``function(item)`` for each item: ``(True, value)`` or ``(False, HookFailed)``, in order.

        Each item gets the full time bound; once one overruns, the plugin is hung and the rest fail
        at once. Queued together, so probing a host with a thousand functions costs one hand-off each.
        """
        jobs = [self._submit(_Job(partial(function, item), convert)) for item in items]
        results: List[Tuple[bool, Any]] = []
        for job in jobs:
            try:
                results.append((True, self._outcome(job)))
            except HookFailed as failure:
                results.append((False, failure))
        return results

    def call_staged(self, function: Callable[[Callable[[Any], None]], Any]) -> Tuple[Any, ...]:
        """``function(mark)`` in one hand-off, where ``mark(value)`` ends a stage; each stage gets the full bound.

        Returns the values marked, in order. A plugin's import, its tables hook and each table's reading
        are one job instead of a hand-off each; the :class:`HookFailed` of a stage that raises or
        overruns carries the marks made before it, which say which stage it was.
        """
        ((marks, failure),) = call_staged_in_turn([(self, function)], self._worker)
        if failure is not None:
            raise failure
        return marks

    def _submit(self, job: _Job) -> _Job:
        if self.hung:
            job.error = TimeoutError(f"plugin {self.name!r} did not answer within {self.timeout:g} s earlier"
                                     " and is no longer called")
            job.done.set()
        elif self.timeout is None:
            job.run()
        else:
            self._worker.submit(job)
        return job

    def _outcome(self, job: _Job) -> Any:
        if self.hung and not job.done.is_set():
            raise HookFailed(TimeoutError(f"plugin {self.name!r} is hung; not waited for"), timed_out=True)
        if self.timeout is not None and not job.done.wait(self.timeout):
            self.hung = True
            raise HookFailed(TimeoutError(f"did not answer within {self.timeout:g} s"), timed_out=True)
        if job.error is not None:
            if isinstance(job.error, KeyboardInterrupt) and self.timeout is None:
                raise job.error
            raise HookFailed(job.error, timed_out=isinstance(job.error, TimeoutError) and self.hung)
        return job.value


StagedCall = Tuple["Sandbox", Callable[[Callable[[Any], None]], Any]]
StagedOutcome = Tuple[Tuple[Any, ...], Optional[HookFailed]]


def call_staged_in_turn(calls: Sequence[StagedCall], worker: Optional[Worker] = None) -> List[StagedOutcome]:
    """Each sandbox's ``function(mark)``, one after another in one hand-off: ``(marks, failure or None)`` each.

    As :meth:`Sandbox.call_staged` for each call, each stage under its sandbox's bound. A call that
    overruns leaves its sandbox hung and the worker inside it; the calls after it go on, on a new
    worker. Loading nine plugins so, not with a thread and a hand-off each, saved a cold check 3 ms.
    """
    results: List[StagedOutcome] = []
    while len(results) < len(calls):
        sandbox, function = calls[len(results)]
        if sandbox.hung:
            results.append(((), HookFailed(TimeoutError(f"plugin {sandbox.name!r} did not answer within"
                                                        f" {sandbox.timeout:g} s earlier and is no longer called"),
                                           timed_out=True)))
            continue
        if sandbox.timeout is None:
            results.append(_staged_here(function))
            continue
        # The bounded calls from here on, up to the next one that is not, share one turn.
        end = len(results)
        while end < len(calls) and calls[end][0].timeout is not None and not calls[end][0].hung:
            end += 1
        turn = _Turn(calls[len(results):end])
        worker = worker or Worker("vfiocompat-plugin-loader")
        worker.submit(turn)
        outcomes = turn.wait()
        results.extend(outcomes)
        last = outcomes[-1][1]
        if last is not None and last.timed_out:
            worker = None  # that one is inside the hung plugin
    return results


def _staged_here(function: Callable[[Callable[[Any], None]], Any]) -> StagedOutcome:
    # No time bound: on the caller's thread, where the user's Ctrl-C must go through.
    marks: List[Any] = []
    try:
        function(marks.append)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - isolation is the point
        return tuple(marks), HookFailed(error, marks=tuple(marks))
    return tuple(marks), None


class _Begin:
    """The mark that starts call ``index`` of a turn."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class _Turn(_Job):
    """Staged calls run in turn on one worker; the caller waits once, waking only when one may overrun."""

    __slots__ = ("calls", "lock", "marked_at", "marks", "raised", "stopped")

    def __init__(self, calls: Sequence[StagedCall]) -> None:
        super().__init__(self._run_calls, None)
        self.calls = calls
        self.marks: List[Any] = []
        self.raised: Dict[int, BaseException] = {}
        self.lock = threading.Lock()
        self.stopped = False
        self.marked_at = time.monotonic()

    def mark(self, value: Any) -> None:
        self.marks.append(value)
        self.marked_at = time.monotonic()

    def _run_calls(self) -> None:
        for index, (_, function) in enumerate(self.calls):
            with self.lock:  # the caller may be deciding that the last call overran: then begin no more
                if self.stopped:
                    return
                self.mark(_Begin(index))
            try:
                function(self.mark)
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                self.raised[index] = error

    def wait(self) -> List[StagedOutcome]:
        """Each call's marks and failure, up to and including one that overran."""
        hung: Optional[int] = None
        while True:
            with self.lock:
                finished = self.done.is_set()  # before the copy: a finished turn marks nothing more
                marks = list(self.marks)
                if finished:
                    break
                current = sum(1 for mark in marks if type(mark) is _Begin) - 1
                bound = self.calls[max(current, 0)][0].timeout
                assert bound is not None
                left = self.marked_at + bound - time.monotonic()
                if left <= 0:
                    self.stopped, hung = True, max(current, 0)
                    break
            self.done.wait(left)
        # The marks split at each call's beginning; a turn stopped at a hung call has begun no later one.
        per_call: List[List[Any]] = [[] for _ in range(len(self.calls) if hung is None else hung + 1)]
        index = -1
        for mark in marks:
            if type(mark) is _Begin:
                index = mark.index
            elif index >= 0:
                per_call[index].append(mark)
        return [self._outcome(at, tuple(values), at == hung) for at, values in enumerate(per_call)]

    def _outcome(self, index: int, marks: Tuple[Any, ...], hung: bool) -> StagedOutcome:
        sandbox = self.calls[index][0]
        if hung:
            sandbox.hung = True
            return marks, HookFailed(TimeoutError(f"did not answer within {sandbox.timeout:g} s"), timed_out=True,
                                     marks=marks)
        error = self.raised.get(index)
        return marks, None if error is None else HookFailed(error, marks=marks)


class _Queue:
    """The jobs waiting for one plugin's worker (the queue module costs a cold check half a millisecond)."""

    def __init__(self) -> None:
        self._jobs: deque[_Job] = deque()
        self._ready = threading.Semaphore(0)

    def put(self, job: _Job) -> None:
        self._jobs.append(job)
        self._ready.release()

    def get(self) -> _Job:
        self._ready.acquire()
        return self._jobs.popleft()


def _work(jobs: _Queue) -> None:
    while True:
        jobs.get().run()
