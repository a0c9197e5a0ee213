"""Mail stage: mail-piece production between spool and render (householding → envelopes → presort → marks).

Steps, each a module::

    documents (SQLite rows from the spool)
      → household.py   householding keys, compatibility, envelope/weight/shape, split or large envelope
      → presort.py     generic presort per mailing (levels finest first, minimums, containers,
                       overflow policy chosen by cost), sequence numbers, trays and bundles
      → plan.py        streams, piece ids, print files; ``iter_print_files`` for the renderer
      → control.py     OMR ladder / 2D control code per sheet, IMb, separator sheets (``mark_pages``)
      → production.py  mail-run file, postage statement, tray tags; reprint of damaged/missing pieces

Postal numbers live in rule packs (``rules/*.toml``, versioned and dated; see :mod:`.rules`), never in
code. Everything is computed with SQL ORDER BY / GROUP BY over the run's work database, holding at most
one household or one container of pieces in memory.
"""
from .config import DataMatrixSpec, ImbConfig, InsertSpec, MailConfig, OmrScheme
from .control import (control_payload, decode_control, decode_omr, imb_fields, imb_serial, job_code, mark_pages,
                      omr_bits, parse_imb, separator_pages)
from .plan import (PlanSummary, PlannedPiece, PrintFilePlan, StreamSummary, iter_pieces, iter_print_files,
                   plan_mail)
from .production import (ReprintSelection, build_reprint_documents, read_inserter_results, record_piece_position,
                         reprint, write_production_files)
from .rules import RuleBook, RulePack, load_rulebook

__all__ = [
    "MailConfig", "OmrScheme", "DataMatrixSpec", "ImbConfig", "InsertSpec",
    "plan_mail", "iter_print_files", "iter_pieces", "PlanSummary", "PlannedPiece", "PrintFilePlan", "StreamSummary",
    "mark_pages", "separator_pages", "omr_bits", "decode_omr", "control_payload", "decode_control", "job_code",
    "imb_fields", "imb_serial", "parse_imb",
    "write_production_files", "record_piece_position", "reprint", "read_inserter_results",
    "build_reprint_documents", "ReprintSelection",
    "load_rulebook", "RuleBook", "RulePack",
]
