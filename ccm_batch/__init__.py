"""ccm-batch: a batch éditique engine.

Pipeline, one package per stage::

    records (read extracts) → compose (layout → pages) → spool → mail (plan pieces)
        → render (PDF, AFP) → archive (indexes) + report
"""
__version__ = "0.1.0"

from . import _compiled

_compiled.select()         # compiled core (Cython, when built) or the .py modules: see ccm_batch._compiled
