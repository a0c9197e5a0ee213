"""Channels, in the compose workers: each composed document routed, its channel variants composed.

:class:`ChannelRouter` is built once per run (before the workers fork: the preferences CSV and the
feedback snapshot are read once and inherited). For every composed document, :meth:`decide` reads
the customer's preferences, routes the document (:func:`~ccm_batch.channels.routing.route_document`),
composes the variants of the channels it goes to and checks the SMS length. The result travels with
the chunk's rows (committed together, so a restart finds the same decisions); a problem (an SMS over
the segment limit, a variant expression that fails) rejects the record like a layout error.
"""
from __future__ import annotations

from typing import NamedTuple

from ..errors import RecordError
from .config import ChannelsConfig
from .preferences import PreferenceSource, read_preferences_csv
from .routing import normalise_mobile, route_document
from .sms.encoding import encode_sms


class RoutedDocument(NamedTuple):
    """One document's channel decision and the content of its electronic channels."""
    seq: int
    doc_id: str
    customer_id: str
    doc_type: str
    language: str
    primary: str
    channels: tuple
    reason: str
    email: str
    mobile: str
    content: dict                  # channel -> EmailContent | SmsContent | PortalContent
    sms: tuple                     # (coding, units, segments) or ()
    spool: tuple = ()              # (file, offset, length) of the composed document
    pdp: str = ""                  # einvoice: the customer's platform (preferences, else the mapping's, else default)
    siren: str = ""                # einvoice: the customer's SIREN (preferences, else the mapping's)

    @property
    def on_paper(self) -> bool:
        return "paper" in self.channels


class ChannelRouter:
    """Routes composed documents (see the module docstring)."""

    def __init__(self, job, config: ChannelsConfig, layout):
        self.job, self.config, self.layout = job, config, layout
        csv_prefs = read_preferences_csv(config.preferences, config.preferences_key) \
            if config.preferences else {}
        self.prefs = PreferenceSource(config.fields, csv_prefs)
        self.einvoice = getattr(job, "einvoice", None)
        self.mapping = None
        if self.einvoice is not None and any(config.routes_einvoice(t) for t in config.rules):
            from ..einvoice import load_mapping       # the buyer's SIREN and platform, when no preference gives them
            self.mapping = load_mapping(self.einvoice.mapping, job.input.namespace_map)
        self.blocks = {}
        if config.feedback is not None and config.feedback.exists():
            from .feedback import FeedbackStore
            store = FeedbackStore(config.feedback)
            try:
                self.blocks = store.blocking()
            finally:
                store.close()

    def fingerprint(self) -> str:
        """SHA-256 of what routing reads besides the job and layout: the preferences file and the feedback
        blocks. A restart whose preferences or feedback changed is refused (decisions would differ)."""
        import hashlib
        import json
        h = hashlib.sha256()
        if self.config.preferences is not None:
            h.update(self.config.preferences.read_bytes())
        h.update(json.dumps(sorted((list(k), v) for k, v in self.blocks.items()), default=str).encode())
        return h.hexdigest()

    def decide(self, record, document) -> RoutedDocument:
        """Route one composed document; raises :class:`RecordError` when it cannot go where it must."""
        from ..compose.variants import compose_variants
        meta = document.meta
        rule = self.config.rule(meta.doc_type)
        prefs = self.prefs.read(record, meta.customer_id)
        if self.mapping is not None and self.config.routes_einvoice(meta.doc_type):
            prefs = prefs._replace(siren=prefs.siren or self.mapping.value("buyer", "siren", record.tree),
                                   pdp=prefs.pdp or self.mapping.value("buyer", "pdp", record.tree)
                                   or self.einvoice.default_pdp)
        decision = route_document(meta, prefs, rule, self.blocks,
                                  b2b_only=self.einvoice is None or self.einvoice.route == "b2b")
        electronic = [c for c in decision.channels if c not in ("paper", "einvoice")]
        content = compose_variants(self.layout, record, job=self.job.name, job_date=self.job.date,
                                   channels=electronic) if electronic else {}
        sms = ()
        if "sms" in content:
            text = content["sms"].text
            enc = encode_sms(text)
            limit = content["sms"].max_segments or rule.max_sms_segments
            if enc.segments == 0:
                raise RecordError("sms variant: the text is empty for this record", field="sms")
            if enc.segments > limit:
                raise RecordError(f"sms variant: the text needs {enc.segments} segments "
                                  f"({enc.units} {'septets' if enc.coding == 'gsm7' else 'UCS-2 units'}, "
                                  f"{'GSM 03.38' if enc.coding == 'gsm7' else 'UCS-2'}), more than the "
                                  f"limit of {limit}: shorten the text (never cut)", field="sms")
            sms = tuple(enc)
        return RoutedDocument(record.number, meta.doc_id, meta.customer_id, meta.doc_type, meta.language,
                              decision.primary, decision.channels, decision.reason, prefs.email,
                              normalise_mobile(prefs.mobile), content, sms,
                              pdp=prefs.pdp if "einvoice" in decision.channels else "",
                              siren=prefs.siren if "einvoice" in decision.channels else "")
