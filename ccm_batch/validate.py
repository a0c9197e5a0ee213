"""Job check (``ccm-batch validate``): the job file, its layout and a sample of its input, producing nothing."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import EXIT_OK, EXIT_WARNING, InputError, RecordError


@dataclass
class ValidationResult:
    """Lines to show the operator and the exit code (0 fine, 4 some sampled records would be rejected)."""
    lines: list = field(default_factory=list)
    exit_code: int = EXIT_OK


def looks_like_layout(path: Path) -> bool:
    """An XML file given where a job file (TOML) is expected: a layout, most likely."""
    try:
        with open(path, "rb") as f:
            head = f.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False
    return path.suffix.lower() == ".xml" or head.startswith(b"<")


def validate_layout_file(path: Path) -> ValidationResult:
    """``validate LAYOUT.xml``: check the layout alone (RELAX NG schema, fields, expressions) and say
    that a job file is what ``validate`` and ``run`` take. A layout error raises LayoutError (exit 12)."""
    from .layout import load_layout
    layout = load_layout(path)
    result = ValidationResult()
    fields = len(getattr(layout, "field_specs", ()))
    result.lines.append(f"layout    {path}: OK ({fields} declared field{'s' if fields != 1 else ''}) — this is a "
                        "layout, not a job file: `ccm-batch validate JOB.toml` also checks the job and its "
                        f"input; `ccm-batch preview {path} --data EXTRACT` shows it with records")
    return result


def validate_job(job, sample: int = 50) -> ValidationResult:
    """Load the layout, then read, validate and compose the first ``sample`` records (nothing is written).

    A job or layout error raises :class:`ccm_batch.errors.ConfigError` (exit 12).
    """
    from .compose import compose_document
    from .job import check_with_layout, load_job_layout
    from .records import open_records
    from .records.validate import validate_record

    result = ValidationResult()
    out = result.lines
    layout = load_job_layout(job)
    check_with_layout(job, layout)
    if job.image_dirs:
        layout.image_dirs = tuple(job.image_dirs)
    specs = list(getattr(layout, "field_specs", ())) + list(job.fields)
    out.append(f"job       {job.path}: OK (job {job.name}, date {job.date})")
    out.append(f"layout    {job.layout}: OK ({len(specs)} declared fields)")
    einvoice = None
    if job.einvoice is not None:         # the mapping is loaded (errors: exit 12), then every sampled
        from .einvoice.stage import EinvoiceStage, printed_amount   # invoice is checked as run would
        einvoice = EinvoiceStage(job.einvoice, job.input.namespace_map)
        out.append(f"einvoice  {job.einvoice.mapping}: OK (profile {job.einvoice.profile}, "
                   f"{', '.join(job.einvoice.formats)})")
    if getattr(job, "channels", None) is not None:       # a routed channel needs the layout's variant
        from .channels import check_layout
        check_layout(job.path, job.channels, layout, job.einvoice)
        out.append(f"channels  {', '.join(sorted(job.channels.channels_used()))}: the layout has every variant")
    input_path = Path(job.input.path)
    if not input_path.is_file():
        from .errors import InputNotFound
        raise InputNotFound(f"input file {input_path} does not exist: check [input] path in {job.path}")
    read = bad = pages = 0
    trees = []
    try:
        for record in open_records(job.input):
            if record.number > sample:
                break
            read += 1
            if record.tree is not None:
                trees.append(record.tree)
            problems = list(record.problems) or [(p.field, p.message) for p in validate_record(record, specs)]
            if not problems:
                try:
                    composed = compose_document(layout, record, job=job.name, job_date=job.date,
                                                missing_glyphs=job.missing_glyphs)
                    pages += composed.document.page_count
                    for w in composed.warnings:
                        out.append(f"  warning record {record.number}: {w}")
                    if einvoice is not None:
                        problems = einvoice.prepare(record, composed.document, None, printed_amount)
                except RecordError as exc:
                    problems = [(exc.field or "layout", exc.message)]
            for fld, message in problems:
                bad += 1
                out.append(f"  reject  record {record.number} ({record.source}:{record.line}) "
                           f"field {fld}: {message}")
    except InputError as exc:
        out.append(f"input     {exc}")
        result.exit_code = 8
        return result
    from .layout.paths import check_paths
    unmatched = check_paths(layout, trees)
    for message in unmatched:
        out.append(f"  warning {message}")
    out.append(f"input     {input_path}: {read} records sampled, {bad} problems, {pages} pages composed"
               + (f", {len(unmatched)} layout paths matching nothing" if unmatched else ""))
    if bad or unmatched:
        result.exit_code = EXIT_WARNING
    return result
