"""Preview (``ccm-batch preview``): compose a few records of a data file with a layout into a PDF and PNGs.

For layout designers: no job file, no spool, no plan — records ``FROM-TO`` of the extract are composed
and rendered straight to one PDF (and PNG pages with poppler's ``pdftoppm`` when ``--png`` is given).
Rejected records are listed with their reason instead of stopping the preview.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

from .errors import ConfigError, RecordError


def parse_range(text: str) -> tuple[int, int]:
    """``"1-3"`` → (1, 3); ``"5"`` → (5, 5)."""
    try:
        first, _, last = text.partition("-")
        lo, hi = int(first), int(last or first)
    except ValueError:
        raise ConfigError(f"--records {text!r}: expected N or FROM-TO, e.g. 1-3") from None
    if lo < 1 or hi < lo:
        raise ConfigError(f"--records {text!r}: expected 1 ≤ FROM ≤ TO")
    return lo, hi


def preview_layout(layout_path: Path | None, data: Path | None, record_element: str | None, record_range: str,
                   out_pdf: Path, png_dir: Path | None, job_date: str = "2026-11-23", job=None,
                   overlay: bool = False):
    """Compose and render; yields lines describing what was written.

    With ``job`` (a loaded job file) the job's input settings (CSV dialect, columns, grouping, namespaces)
    and layout are used; ``data`` and ``layout_path`` override them when given. ``overlay`` draws the
    envelope windows, the inserter marks and clear zones the job would print, and lists collisions
    (:mod:`ccm_batch.overlay`).
    """
    from .compose import compose_document
    from .layout import load_layout
    from .records.config import InputConfig, open_records
    from .records.validate import validate_record
    from .render.base import PieceInfo, StreamInfo
    from .render.pdf import PdfOptions, PdfRenderer

    lo, hi = parse_range(record_range)
    if job is not None:
        job_date = job.date
        layout_path = layout_path or job.layout
    if layout_path is None:
        raise ConfigError("preview needs a LAYOUT or --job JOB.toml")
    layout = load_layout(layout_path)
    if job is not None and job.image_dirs:
        layout.image_dirs = tuple(job.image_dirs)
    if job is not None:
        cfg = job.input if data is None else dataclasses.replace(job.input, path=data.resolve())
    else:
        if data is None:
            raise ConfigError("preview needs --data FILE (or --job JOB.toml)")
        fmt = "csv" if data.suffix.lower() in (".csv", ".txt") else "xml"
        if fmt == "csv":
            raise ConfigError(f"{data}: a CSV extract needs its dialect and columns: pass --job JOB.toml")
        record = record_element or getattr(layout, "record", "") or None
        if not record:
            raise ConfigError(f"{layout_path}: the layout names no record element; pass --record NAME")
        cfg = InputConfig.from_dict({"path": str(data.resolve()), "format": fmt, "record": record}, data.parent)
    renderer = PdfRenderer(PdfOptions(title=f"preview {layout_path.name}", creation_date=job_date))
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    renderer.start_file(str(out_pdf), StreamInfo(job="preview", stream="preview", job_date=job_date))
    mail = None
    if overlay and job is not None and job.mail:
        from .mail.config import MailConfig
        mail = MailConfig.from_dict(job.mail, job.path.parent)
    composed = in_range = last = collisions = 0
    for rec in open_records(cfg):
        last = rec.number
        if rec.number < lo:
            continue
        if rec.number > hi:
            break
        in_range += 1
        problems = list(rec.problems) or [(p.field, p.message) for p in validate_record(rec, layout.field_specs)]
        if not problems:
            try:
                if overlay:
                    from .compose.document import Composer
                    from .overlay import overlay_document
                    composer = Composer(layout, rec, "preview", job_date)
                    document, warnings = composer.run()
                    document, hits = overlay_document(document, composer.templates_used, layout, mail,
                                                      rec.number)
                    result = type("Result", (), {"document": document, "warnings": warnings})
                    for line in hits:
                        collisions += 1
                        yield f"collision: {line}"
                else:
                    result = compose_document(layout, rec, job="preview", job_date=job_date)
            except RecordError as exc:
                problems = [(exc.field or "layout", exc.message)]
        if problems:
            for fld, message in problems:
                yield f"record {rec.number}: rejected — {fld}: {message}"
            continue
        for w in result.warnings:
            yield f"record {rec.number}: warning — {w}"
        doc = result.document
        renderer.start_piece(PieceInfo(piece_id=doc.meta.doc_id, seq=rec.number))
        renderer.start_document(doc.meta)
        for page in doc.pages:
            renderer.page(page)
        renderer.end_document()
        renderer.end_piece()
        composed += 1
        yield f"record {rec.number}: {doc.meta.doc_id}, {doc.page_count} page(s)"
    facts = renderer.end_file()
    if not in_range:
        out_pdf.unlink(missing_ok=True)
        raise ConfigError(f"--records {record_range}: no record matched, {cfg.path} has "
                          f"{last} record{'s' if last != 1 else ''}")
    yield f"{out_pdf.resolve()}: {facts.pages} page{'s' if facts.pages != 1 else ''}, " \
          f"{composed} document{'s' if composed != 1 else ''}"
    if overlay:
        yield (f"overlay: {collisions} collision(s)" if collisions else "overlay: no collision")
    if png_dir is not None:
        if not shutil.which("pdftoppm"):
            raise ConfigError("--png needs poppler's pdftoppm (apt-get install poppler-utils)")
        png_dir.mkdir(parents=True, exist_ok=True)
        for stale in png_dir.glob("page-*.png"):      # an earlier preview's pages: only the names we write
            if re.fullmatch(r"page-\d+\.png", stale.name):
                stale.unlink()
        if facts.pages:
            subprocess.run(["pdftoppm", "-png", "-r", "100", str(out_pdf), str(png_dir / "page")], check=True)
        made = len([p for p in png_dir.glob("page-*.png") if re.fullmatch(r"page-\d+\.png", p.name)])
        yield f"{png_dir.resolve()}: {made} PNG page{'s' if made != 1 else ''}"
