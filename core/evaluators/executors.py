"""Where evaluations run: in this process, a local process pool, or Ray tasks on a cluster.

Every executor runs :func:`core.evaluators.base.evaluate_safely` once per architecture on an
evaluator rebuilt from its :meth:`~core.evaluators.base.ArchEvaluator.to_dict` description, and
yields ``(spec, row, error)`` as each finishes, so a campaign can record every result the moment it
exists (a crash then loses nothing finished). Results do not depend on the executor: the same specs
give the same rows (look-up, FLOPs, parameters; timings vary as timings do).

Ray (https://docs.ray.io) is the distributed engine: ``RayExecutor(address=None)`` starts a local
instance; ``address="auto"`` or ``"ray://host:10001"`` joins an existing cluster (``ray start --head``
on one machine, ``ray start --address HEAD:6379`` on the others). Each Ray task evaluates
``task_batch`` architectures (one for heavy evaluations, hundreds for look-ups) and asks for the
evaluator's ``task_resources()`` (a GPU for inpainting + FID); a timing evaluator (``exclusive``) asks
for a whole node's CPUs so no two timings share a machine.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import socket
import threading
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterator, Sequence

import pandas as pd

from core.errors import InputError
from core.evaluators.base import (
    ArchEvaluator,
    EvaluationBatch,
    EvaluationProgress,
    evaluate_safely,
    evaluator_from_dict,
)

#: Seconds to wait for a Ray cluster to answer before giving up with one line.
CONNECT_TIMEOUT = 30.0

#: One finished evaluation: (spec, metric row or None, one-line error or None).
Outcome = tuple[str, "dict[str, float] | None", "str | None"]


def _evaluate_described(description: dict[str, Any], spec: str) -> Outcome:
    """Runs in a worker: rebuild the evaluator (cheap; heavy state is cached per process) and evaluate."""
    row, error = evaluate_safely(evaluator_from_dict(description), spec)
    return spec, row, error


def _evaluate_chunk(description: dict[str, Any], specs: list[str]) -> list[Outcome]:
    """One Ray task: ``task_batch`` architectures, each its own outcome."""
    evaluator = evaluator_from_dict(description)
    return [(spec, *evaluate_safely(evaluator, spec)) for spec in specs]


class Executor(ABC):
    """Runs one evaluator over many architectures."""

    name: str = ""

    @abstractmethod
    def map(self, evaluator: ArchEvaluator, specs: Sequence[str],
            should_stop: Callable[[], bool] | None = None) -> Iterator[Outcome]:
        """Yield one outcome per spec as each finishes (any order). With ``should_stop``, stop
        starting new evaluations once it returns True (those started may still be yielded)."""

    def close(self) -> None:
        """Release workers (a no-op where there are none)."""


class LocalExecutor(Executor):
    """``workers`` = 1: one after another in this process; more: a process pool of that size
    (spawned processes, so no torch state is forked)."""

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise InputError(f"workers must be a positive integer, not {workers!r}")
        self.workers = workers

    def map(self, evaluator, specs, should_stop=None):
        stop = should_stop or (lambda: False)
        if self.workers == 1 or len(specs) <= 1:
            for spec in specs:
                if stop():
                    return
                row, error = evaluate_safely(evaluator, spec)
                yield spec, row, error
            return
        description = evaluator.to_dict()
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            pending = {pool.submit(_evaluate_described, description, spec): spec for spec in specs}
            try:
                for future in concurrent.futures.as_completed(pending):
                    spec = pending[future]
                    try:
                        yield future.result()
                    except Exception as err:  # noqa: BLE001 - a dead worker fails its architecture only
                        yield spec, None, f"worker failed: {type(err).__name__}: {err}"
                    if stop():
                        for other in pending:
                            other.cancel()
                        return
            finally:
                for other in pending:
                    other.cancel()


class RayExecutor(Executor):
    """Each evaluation is a Ray task. ``address``: None starts (or reuses) a local instance with
    ``num_cpus`` CPUs; ``"auto"``, ``"host:port"`` or ``"ray://..."`` joins a running cluster.

    Joining never hangs: an address whose port refuses is one line at once, and a cluster that does not
    answer within ``connect_timeout`` seconds is one line then (Ray itself retries forever)."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        try:
            import ray
        except ImportError:  # pinned in requirements.txt; guard for trimmed installs
            raise InputError("the ray executor needs the 'ray' package (pip install -r requirements.txt)") from None
        self._ray = ray
        if address is not None:
            _probe(address, connect_timeout)  # even when Ray is up: a named address must answer
        if not ray.is_initialized():
            if address is None:  # a local instance: started here, no network wait to guard
                try:
                    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                             logging_level="ERROR", configure_logging=False)
                except (ConnectionError, RuntimeError, ValueError) as err:
                    raise InputError(f"could not start a local Ray instance: {str(err).splitlines()[0]}") from None
            else:
                _init_within(ray, {"address": address, "log_to_driver": False, "logging_level": "ERROR"},
                             address, connect_timeout)
        self._remote = ray.remote(_evaluate_chunk)

    def _options(self, evaluator: ArchEvaluator) -> dict[str, Any]:
        options = dict(evaluator.task_resources())
        if getattr(evaluator, "exclusive", False):
            # One timing per node: ask for all CPUs of the smallest node, so Ray never co-schedules two.
            cpus = [node["Resources"].get("CPU", 1) for node in self._ray.nodes() if node.get("Alive")]
            options["num_cpus"] = max(1, min(cpus or [1]))
        options["max_retries"] = 0  # an evaluation that fails is reported, not silently re-run
        return options

    def map(self, evaluator, specs, should_stop=None):
        stop = should_stop or (lambda: False)
        remote = self._remote.options(**self._options(evaluator))
        description = evaluator.to_dict()
        size = max(1, evaluator.task_batch)
        chunks = [list(specs[i:i + size]) for i in range(0, len(specs), size)]
        refs = {remote.remote(description, chunk): chunk for chunk in chunks}
        waiting = list(refs)
        while waiting:
            done, waiting = self._ray.wait(waiting, num_returns=1)
            for ref in done:
                try:
                    yield from self._ray.get(ref)
                except Exception as err:  # noqa: BLE001 - a lost task or node fails its architectures only
                    reason = f"ray task failed: {type(err).__name__}: {str(err).splitlines()[0]}"
                    for spec in refs[ref]:
                        yield spec, None, reason
            if stop() and waiting:
                for ref in waiting:
                    self._ray.cancel(ref)
                return


def _probe(address: str, timeout: float) -> None:
    """Fail at once, naming the address, when a ``host:port`` (or ``ray://host:port``) refuses a TCP
    connection: Ray would retry it forever. ``auto`` names no port, so only the timeout guards it."""
    where = address.split("://", 1)[1] if "://" in address else address
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise InputError(f"could not reach a Ray cluster at {address!r}: {why}") from None


def _init_within(ray: Any, options: dict[str, Any], address: str | None, timeout: float) -> None:
    """``ray.init(**options)``, given up after ``timeout`` seconds with one line naming the address.

    It runs in a daemon thread, since ray.init has no timeout of its own: a call still stuck is left
    behind and ends with the process. The thread stays parked after a successful init, because Ray's
    driver state dies with the thread that connected it (tasks then fail with "connection reset")."""
    outcome: dict[str, BaseException] = {}
    finished = threading.Event()

    def connect() -> None:
        try:
            ray.init(**options)
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread below
            outcome["error"] = err
        finished.set()
        if "error" not in outcome:
            threading.Event().wait()  # parked for the process's life (see above)

    threading.Thread(target=connect, name="ray-connect", daemon=True).start()
    where = "a local Ray instance" if address is None else f"a Ray cluster at {address!r}"
    if not finished.wait(timeout):
        raise InputError(f"could not reach {where} within {timeout:g} s")
    error = outcome.get("error")
    if isinstance(error, (ConnectionError, RuntimeError, ValueError, TimeoutError)):
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"could not reach {where}: {first}")
    if error is not None:
        raise error


#: name -> executor class (``--executor``).
EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(name: str, address: str | None = None, workers: int = 1) -> Executor:
    """The executor called ``name``: ``local`` (``workers`` processes) or ``ray`` (at ``address``)."""
    if name == "local":
        if address:
            raise InputError("--address is for the ray executor")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address)
    raise InputError(f"unknown executor {name!r}; choose from {list(EXECUTORS)}")


def evaluate_batch(evaluator: ArchEvaluator, specs: Sequence[str], executor: Executor | None = None,
                   progress: EvaluationProgress | None = None,
                   should_stop: Callable[[], bool] | None = None) -> EvaluationBatch:
    """Evaluate ``specs``; rows come back in the order of ``specs`` whatever order they finish in."""
    executor = executor or LocalExecutor()
    rows: dict[str, dict[str, float]] = {}
    errors: dict[str, str] = {}
    for done, (spec, row, error) in enumerate(executor.map(evaluator, specs, should_stop), start=1):
        if error is not None:
            errors[spec] = error
        else:
            rows[spec] = row
        if progress is not None:
            progress(done, len(specs), spec, error)
    frame = pd.DataFrame([{"arch": s, **rows[s]} for s in specs if s in rows],
                         columns=["arch", *evaluator.metrics()])
    return EvaluationBatch(frame, {s: errors[s] for s in specs if s in errors})
