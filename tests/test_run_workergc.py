"""Run orchestration: the collector settings of worker processes (ccm_batch.run.workergc)."""
from __future__ import annotations

import gc
import multiprocessing
import os

from ccm_batch.run import signals, workergc


def _report(queue, holder) -> None:
    """In the worker: what the collector looks like, and whether the parent's object is frozen."""
    queue.put((gc.get_threshold(), gc.get_freeze_count(), any(o is holder for o in gc.get_objects())))


def test_forked_worker_freezes_what_it_inherited_and_collects_young_objects_less_often():
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    holder = {"inherited": [1, 2, 3]}          # a container the worker inherits from its parent
    before = gc.get_threshold()
    proc = ctx.Process(target=signals.run_worker, args=(os.getpid(), _report, queue, holder))
    proc.start()
    thresholds, frozen, tracked = queue.get(timeout=60)
    proc.join(60)
    assert proc.exitcode == 0
    assert thresholds == (workergc.GEN0, before[1], before[2])
    assert frozen > 1000                       # the test process's modules and objects, at least
    assert not tracked                         # frozen: no generation the collector walks holds it
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0     # the parent is untouched


def test_settled_phase_in_the_callers_process_is_undone_after():
    before = gc.get_threshold()
    with workergc.settled():
        assert gc.get_threshold()[0] == workergc.GEN0
        assert gc.get_freeze_count() > 1000
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_settled_is_undone_when_the_phase_fails():
    before = gc.get_threshold()
    try:
        with workergc.settled():
            raise ValueError("a phase that fails")
    except ValueError:
        pass
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_cyclic_garbage_made_in_a_settled_phase_is_still_collected():
    import weakref

    class Node:
        pass

    with workergc.settled():
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        assert ref() is not None                 # not yet: nothing has been collected since
        young = [[] for _ in range(2 * workergc.GEN0)]     # enough new containers for a collection
        assert ref() is None
        assert len(young) == 2 * workergc.GEN0
