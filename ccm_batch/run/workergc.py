"""Run orchestration: the garbage collector of a worker process — what it inherited frozen, young objects
collected less often.

A compose or render worker starts as a fork of a process that already holds the layout, its fonts and
the modules: tens of thousands of long-lived objects. CPython's cyclic collector would walk them again
at every full collection, and its first generation is collected after every 700 container objects: in
the bench job that was 5–6 % of a compose worker's time and 4 % of a render worker's (``gc.callbacks``,
3,000 records). :func:`settle` moves everything the worker inherited into the permanent generation
(``gc.freeze``: never walked again, and never written to, so the pages it shares with its parent stay
shared) and collects the first generation every :data:`GEN0` objects; the older generations keep their
default ratios, so cyclic garbage is still collected and memory stays flat in the number of records
(reference counting frees everything else at once, as before). Outputs do not depend on it.

A run without worker processes (``workers = 1``) composes and renders in its own process, which may be a
long-lived caller of the library: there :func:`settled` does the same for the phase only and then gives
the objects back to the collector (``gc.unfreeze``) and restores the thresholds.
"""
from __future__ import annotations

import contextlib
import gc

GEN0 = 10_000
"""Container objects allocated (net) between two collections of the youngest generation (CPython: 700)."""


def settle() -> None:
    """Freeze what the worker inherited and set the collector's thresholds (see the module docstring)."""
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0, gen1, gen2)


@contextlib.contextmanager
def settled():
    """:func:`settle` for the duration of a phase run in the caller's own process, undone after."""
    thresholds = gc.get_threshold()
    settle()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
