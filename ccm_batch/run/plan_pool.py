"""Run orchestration, plan workers: the pool the mail plan runs its householding passes on.

:func:`ccm_batch.mail.plan_mail` takes any object with ``width`` and ``map(fn, [args, ...], each=None)``: the
results in the order of the arguments, each one also handed to ``each(i, result)`` in that order as
soon as it and those before it are in, while later tasks still run (the plan merges a partition's rows
as soon as it is done). The run gives it:

* with ``[run] executor = "local"`` and more than one worker: ``workers`` forked processes
  (:class:`LocalPlanPool`, forked when the pool is opened, before the plan fills its page cache, and
  stopped after the last batch);
* with ``executor = "dask"``: tasks on the run's Dask cluster (:class:`DaskPlanPool`), each task one
  partition, rescheduled by Dask if its worker dies (a partition's task starts its file anew);
* one local worker, or a Dask cluster of one worker thread: no pool, the passes run in the run's process.

After its last batch (the presort of the mailings) the plan calls ``rest()`` (if the pool has it): the
local processes stop then rather than idle through the files pass and the indexes with their memory
(2 × 120 MB at 1,000,000 documents).

Each pool adds up the CPU seconds its tasks used (``cpu_s``), for the bench.
"""
from __future__ import annotations

import multiprocessing
import os
import time


def _timed(fn, *args):
    """``fn(*args)`` and the CPU seconds it took, in a worker; then the memory the task freed (its SQLite
    page caches: up to 64 MB at 1,000,000 documents) goes back to the system, so that a worker waiting
    for its next task, or for the plan to end, holds only what it holds between tasks."""
    from . import give_back_memory
    start = time.process_time()
    try:
        result = fn(*args)
    finally:
        give_back_memory()
    return result, time.process_time() - start


def _timed_star(item):
    fn, args = item
    return _timed(fn, *args)


class LocalPlanPool:
    """``width`` forked worker processes (they ignore Ctrl-C and die with the run). A worker that dies
    stops the plan with an error (nothing is released; ``--restart`` plans again)."""

    def __init__(self, width: int):
        self.width, self.cpu_s, self._pool = width, 0.0, None

    def map(self, fn, arglist: list, each=None) -> list:
        from concurrent.futures.process import BrokenProcessPool

        from ..errors import CcmError
        self.start()
        out = []
        try:
            for result, cpu in self._pool.map(_timed_star, [(fn, tuple(a)) for a in arglist]):
                self.cpu_s += cpu
                if each is not None:
                    each(len(out), result)
                out.append(result)
        except BrokenProcessPool:
            raise CcmError("a mail plan worker died; nothing was released: rerun with --restart") from None
        return out

    def start(self) -> None:
        """Fork the processes now, if they are not running. :func:`open_plan_pool` starts them before the
        plan reads anything: a forked process carries every page its parent holds at the fork, and the
        plan's 32 MB page cache fills with its first scan of the documents (2 × 24 MB more in the workers
        at 100,000 bench invoices when they were forked at the first batch)."""
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor
            from concurrent.futures.process import BrokenProcessPool

            from ..errors import CcmError
            from .signals import worker_started
            self._pool = ProcessPoolExecutor(self.width, mp_context=multiprocessing.get_context("fork"),
                                             initializer=worker_started, initargs=(os.getpid(),))
            try:
                self._pool.submit(int).result()    # with "fork", the first task forks every process
            except BrokenProcessPool:
                raise CcmError("a mail plan worker died as it started; nothing was released: rerun with "
                               "--restart") from None

    def close(self) -> None:
        """Stop the processes (a later :meth:`map` starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    rest = close         # the plan's tasks are done: the files pass and indexes run in the run's process


class DaskPlanPool:
    """Tasks on the run's Dask cluster (see :mod:`.dask_executor`)."""

    def __init__(self, job):
        from .dask_cluster import client_for
        from .dask_executor import _threads
        self.job, self.cpu_s = job, 0.0
        self.width = _threads(client_for(job))

    def map(self, fn, arglist: list, each=None) -> list:
        from .dask_executor import map_on_dask

        def timed(i, timed_result):
            result, cpu = timed_result
            self.cpu_s += cpu
            if each is not None:
                each(i, result)
        return [result for result, _cpu in map_on_dask(self.job, _timed, [(fn, *a) for a in arglist], timed)]

    def close(self) -> None:
        """Nothing to release: the tasks open and close their own connections."""

    def rest(self) -> None:
        """Nothing to stop: the cluster's workers are the run's (each gave its task's memory back)."""


def open_plan_pool(job):
    """The plan's pool for ``job`` (None: the whole plan in the run's process)."""
    if job.executor == "dask":          # a cluster of one worker thread: nothing to share, no round trips
        pool = DaskPlanPool(job)
        return pool if pool.width > 1 else None
    if job.workers > 1:
        pool = LocalPlanPool(job.workers)
        pool.start()
        return pool
    return None
