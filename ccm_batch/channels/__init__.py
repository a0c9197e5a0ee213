"""Channels stage: each composed document routed to paper, email, SMS, the portal or e-invoice, and delivered there.

Pipeline (beside ``render/``; the print pipeline only sees paper documents):

1. ``config`` reads the job's ``[channels]`` table (rules per document type, preferences, servers);
2. ``router`` runs in the compose workers: preferences (``preferences``) + feedback (``feedback``) +
   rules → a decision with its reason (``routing``); the layout's variants composed
   (:mod:`ccm_batch.compose.variants`); SMS length checked (``sms.encoding``);
3. ``produce`` runs after render: ``.eml`` spool (``email.message``), SMS batch file, portal files,
   the e-invoices of documents routed off paper (:mod:`ccm_batch.einvoice.stage`), the routing index
   ``{job}.channels.csv`` and the channel reconciliation;
4. ``send`` (``ccm-batch send RUN_DIR``) delivers the spool: SMTP (``email.smtp``) and Kannel
   (``sms.kannel``), each with a journal so a restart never sends twice;
5. ``feedback`` ingests bounces, SMS delivery reports and returned mail for the next run's routing.
"""
from __future__ import annotations

from .config import ChannelsConfig, Rule, check_layout, read_channels


def open_router(job, layout):
    """The compose workers' router for ``job`` (None for a paper-only job). Checks the layout's variants."""
    config = getattr(job, "channels", None)
    if config is None:
        return None
    check_layout(job.path, config, layout, getattr(job, "einvoice", None))
    from .router import ChannelRouter
    return ChannelRouter(job, config, layout)


__all__ = ["ChannelsConfig", "Rule", "check_layout", "open_router", "read_channels"]
