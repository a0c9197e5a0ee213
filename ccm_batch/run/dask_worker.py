"""Run orchestration, Dask executor: the preload of the local cluster's fork server — its workers start loaded.

The run's own ``LocalCluster`` (``executor = "dask"`` without a scheduler) forks its worker processes from
a fork server (``multiprocessing`` "forkserver") that imports this module once, in parallel with the
run's own start: Dask ``distributed``, the modules the compose, render and plan tasks use, and the run's
layout with its fonts and, for a job that archives PDF/A, the output intent's profile (the job comes
pickled in ``CCM_DASK_JOB``). A run from the command line forks that server from its own process, once
it has imported ``distributed``: most of this is then imported already. A worker — and one the nanny starts
again after a worker was killed — is then a fork of that loaded process, as the local executor's
workers are forks of the run's, instead of a new interpreter importing everything and loading the
layout before its first task. The workers also write Dask's records as the run's operator lines
(:func:`.dask_log.for_workers`). Nothing here may stop the server: a problem (a layout that does not load)
is left for the task to meet and report, as without the preload.
"""
from __future__ import annotations

import contextlib
import os
import pickle

import distributed  # noqa: F401 - imported once here rather than in every worker

from . import dask_cluster, dask_executor, dask_log
from .. import compose, job as _job  # noqa: F401
from ..records import validate  # noqa: F401
from ..mail import partition, presort  # noqa: F401
from ..render import afp, pdf  # noqa: F401
from . import compose_phase, render_phase, workergc  # noqa: F401


def _warm() -> None:
    data = os.environ.pop(dask_cluster.JOB_ENV, "")
    if data:
        with contextlib.suppress(Exception):
            job = pickle.loads(bytes.fromhex(data))
            dask_executor._layout(job)
            if job.per_document_pdf:         # the PDF/A output intent's profile, as the local executor
                from ..render.pdfresources import srgb_icc_profile
                srgb_icc_profile()


_warm()
dask_log.for_workers()   # the run's own cluster: Dask's records as the run's operator lines (see .dask_log)
workergc.settle()        # inherited by every worker forked from this server (see .workergc)
