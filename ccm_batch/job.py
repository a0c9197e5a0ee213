"""Job definition: the TOML job file (input, layout, outputs, indexes, reject limits, job date) and overrides.

A job file names everything a run needs; relative paths resolve against the job file's directory.
Command-line options override the file through :func:`load_job`'s ``overrides``. Every date or id a
run writes comes from ``job.date`` so that runs are reproducible.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import jobschema
from .errors import ConfigError

FORMATS = ("pdf", "afp", "debug")
EXECUTORS = ("local", "dask")
INDEX_FORMATS = ("csv", "jsonl", "cmod")

MISSING_GLYPHS = ("reject", "substitute")
_FACE_KEYS = {"family", "regular", "bold", "italic", "bold_italic", "fallback"}


@dataclass(frozen=True)
class JobConfig:
    """Everything a run needs, resolved and checked. Built by :func:`load_job`."""
    path: Path
    name: str
    date: str
    title: str
    input: Any                       # ccm_batch.records.config.InputConfig
    layout: Path
    output_dir: Path
    image_dirs: tuple[Path, ...] = ()   # where images named by record data may come from (default: the
                                        # directories of the layout's files)
    formats: tuple[str, ...] = ("pdf",)
    file_name: str = "{job}_{stream}_{seq:03d}"
    work_dir: Path | None = None
    index_formats: tuple[str, ...] = ("csv",)
    archive_pdf: bool = False
    archive_name: str = "{customer_id}_{doc_type}_{date}_{doc_id}"
    verify_field: str = "doc_id"     # index field printed on each document's first page (index verify)
    cmod_codepage: int = 819
    cmod_absolute_filename: bool = False   # CMOD GROUP_FILENAME as an absolute path in the output dir
    max_rejects: int | None = None
    max_reject_rate: float | None = None
    min_records_for_rate: int = 100
    fields: tuple = ()               # extra FieldSpec from the job's [fields]
    mail: dict | None = None         # raw [mail] table, read by ccm_batch.mail.MailConfig
    einvoice: Any = None             # ccm_batch.einvoice.EinvoiceConfig from [einvoice], or None
    workers: int = 1
    chunk_size: int = 200
    executor: str = "local"          # local (forked processes) | dask (tasks on a Dask cluster)
    scheduler: str = ""              # dask: tcp://HOST:8786, or "file:PATH" (a scheduler file); "" = a local cluster
    only_records: frozenset | None = None   # reprints: compose only these record numbers
    history: Any = None              # ccm_batch.history.config.HistoryConfig: history, costs, metrics
    missing_glyphs: str = "reject"   # [fonts]: a character no font draws rejects the record / prints "?"
    font_fallback: tuple | None = None      # [fonts] fallback: overrides the layout's default chain
    font_faces: tuple = ()           # [[fonts.face]]: (family, ((path, bold, italic), ...), fallback)
    channels: Any = None             # ccm_batch.channels.ChannelsConfig from [channels] (None: paper only)
    media: tuple = ()                # [media]: (name, bin, description) per paper stock the layout may name
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def per_document_pdf(self) -> bool:
        """One PDF per document under ``archive/``: asked (``archive_pdf``), or needed because a
        ``cmod`` index of PDF output must name one document per group (a print PDF holds many)."""
        return self.archive_pdf or ("cmod" in self.index_formats and "pdf" in self.formats)

    @property
    def run_dir(self) -> Path:
        """The run's own work directory (spool, journal), which the engine creates, marks and alone
        deletes: ``.ccm-work-JOB`` in ``work_dir``, else in the output directory. Kept until the run
        succeeds."""
        return (self.work_dir or self.output_dir) / f".ccm-work-{self.name}"


class _Context:
    """The job file being checked: its path and the line of each of its keys (for messages)."""

    def __init__(self, path: Path, source: jobschema.TomlSource | None = None):
        self.path, self.source = path, source

    def where(self, section: str, key: str | None = None) -> str:
        """``job.toml:LINE: [section] key`` for a message."""
        line = self.source.line_of(section, key or "") if self.source is not None else None
        return f"{self.path}" + (f":{line}" if line else "") + f": [{section}]" + (f" {key}" if key else "")

    def error(self, section: str, key: str | None, message: str) -> ConfigError:
        return ConfigError(f"{self.where(section, key)}: {message}")

    def stage_error(self, exc: ConfigError) -> ConfigError:
        """A stage's own ``[section] key: …`` error, given the job file and the line."""
        return ConfigError(jobschema.locate_message(self.path, self.source, str(exc)))


# command-line options, named as the operator typed them, for override errors
_OPTIONS = {"date": "--date", "workers": "--workers", "max_rejects": "--max-rejects",
            "max_reject_rate": "--max-reject-rate", "formats": "--format", "index_formats": "index formats",
            "executor": "--executor", "scheduler": "--scheduler"}
_OVERRIDE_TYPES = {"date": jobschema.Date(), "workers": jobschema.Int(lo=0, also=("auto",), note="0 = one per core"),
                   "max_rejects": jobschema.Int(lo=0), "max_reject_rate": jobschema.Num(0, 1),
                   "formats": jobschema.ListOf(jobschema.Str(FORMATS), single=True),
                   "index_formats": jobschema.ListOf(jobschema.Str(INDEX_FORMATS), single=True),
                   "executor": jobschema.Str(EXECUTORS), "scheduler": jobschema.Str()}


def _check_overrides(overrides: dict) -> list[str]:
    """Problems of command-line overrides, blamed on the option (not on the job file)."""
    out = []
    for key, spec in _OVERRIDE_TYPES.items():
        if key in overrides:
            value = overrides[key]
            if isinstance(value, tuple):
                value = list(value)
            error = spec.check(value)
            if error:
                out.append(f"{_OPTIONS[key]}: {error}")
    return out


def _resolve(base: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (base / p)


def _plain_file_name(name: str) -> bool:
    """A single, visible file name: no directory part, not ``.``/``..``, no hidden or control name."""
    return bool(name) and not any(c in name for c in "/\\\0") and not name.startswith(".") \
        and name.isprintable()


def check_file_stem(stem: str, template: str, where: str = "[output] name") -> str:
    """``stem`` (an expanded ``[output] name``) when it names a file in the output directory itself."""
    if not _plain_file_name(stem):
        raise ConfigError(f"{where}: {template!r} gives {stem!r}, which is not a plain file name: "
                          "print files are always written in the output directory (choose it with "
                          "[output] dir or --output); the name may not hold '/', '\\', '..' or start with '.'")
    return stem


def _check_work_dir(path: Path, work_dir: Path, out_dir: Path) -> None:
    w, o = Path(os.path.realpath(work_dir)), Path(os.path.realpath(out_dir))
    if o == w or o.is_relative_to(w):
        raise ConfigError(f"{_where(path, 'output', 'work_dir')}: {work_dir} "
                          f"{'is' if o == w else 'contains'} the output directory {out_dir}; the work "
                          "directory must be apart from the outputs (leave work_dir unset to work in a "
                          "hidden subdirectory of the output directory)")


def _image_dirs(path: Path, base: Path, value) -> tuple[Path, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{_where(path, 'layout', 'image_dirs')}: expected a list of directories")
    dirs = []
    for v in value:
        d = _resolve(base, v)
        if not d.is_dir():
            raise ConfigError(f"{_where(path, 'layout', 'image_dirs')}: {d} is not a directory")
        dirs.append(Path(os.path.realpath(d)))
    return tuple(dirs)


def _formats(value) -> tuple[str, ...]:
    """A checked format list (a bare name, a list or a tuple) without duplicates."""
    if isinstance(value, str):
        value = [value]
    return tuple(dict.fromkeys(value))


def _parse_date(value) -> str:
    if isinstance(value, _dt.date):
        return value.isoformat()
    return _dt.date.fromisoformat(str(value)).isoformat()


def _field_specs(ctx: _Context, table: dict) -> tuple:
    from .records.validate import FieldSpec
    specs = []
    for name, spec in table.items():
        try:
            specs.append(FieldSpec(name=name, path=spec.get("path", name),
                                   type=spec.get("type", "string"),
                                   required=spec.get("required", True),
                                   values=tuple(spec.get("values", ())),
                                   pattern=spec.get("pattern"),
                                   max_length=spec.get("max_length")))
        except (TypeError, ValueError) as exc:
            raise ctx.error("fields", name, str(exc)) from None
    return tuple(specs)


def _where(path: Path, section: str, key: str | None = None) -> str:
    return f"{path}: [{section}]" + (f" {key}" if key else "")


def _fonts_section(path: Path, table: dict) -> dict:
    """``[fonts]``: missing_glyphs policy, fallback chain, ``[[fonts.face]]`` files (relative paths
    resolve against the job file; checked here: missing files are a configuration error)."""
    policy = table.get("missing_glyphs", "reject")
    if policy not in MISSING_GLYPHS:
        raise ConfigError(f"{_where(path, 'fonts', 'missing_glyphs')}: {policy!r} (expected one of: "
                          f"{', '.join(MISSING_GLYPHS)})")
    fallback = table.get("fallback")
    if fallback is not None:
        if isinstance(fallback, str):
            fallback = [f.strip() for f in fallback.split(",") if f.strip()]
        if not isinstance(fallback, list) or not all(isinstance(f, str) for f in fallback):
            raise ConfigError(f"{_where(path, 'fonts', 'fallback')}: expected a list of family names")
        fallback = tuple(fallback)
    faces = []
    raw_faces = table.get("face", [])
    if isinstance(raw_faces, dict):
        raw_faces = [raw_faces]
    for i, face in enumerate(raw_faces, 1):
        where = _where(path, "fonts", f"face #{i}")
        if not isinstance(face, dict) or not isinstance(face.get("family"), str) or not face["family"].strip():
            raise ConfigError(f"{where}: expected a table with family = \"…\" and font files")
        unknown = set(face) - _FACE_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} "
                              f"(expected one of: {', '.join(sorted(_FACE_KEYS))})")
        files = []
        for key, bold, italic in (("regular", False, False), ("bold", True, False), ("italic", False, True),
                                  ("bold_italic", True, True)):
            if key in face:
                file = _resolve(path.parent, str(face[key]))
                if not file.is_file():
                    raise ConfigError(f"{where}: {key} font file {file} does not exist")
                files.append((str(file), bold, italic))
        if not files:
            raise ConfigError(f"{where}: names no font file (regular, bold, italic, bold_italic)")
        chain = face.get("fallback")
        if isinstance(chain, str):
            chain = [f.strip() for f in chain.split(",") if f.strip()]
        faces.append((face["family"].strip(), tuple(files), tuple(chain) if chain is not None else None))
    return {"missing_glyphs": policy, "font_fallback": fallback, "font_faces": tuple(faces)}


AFP_COMPLEX_TEXT = ("not supported in AFP output (Arabic, Hebrew and other scripts that need shaping "
                    "or right-to-left layout print in PDF-only runs; see the README)")


def load_job_layout(job: "JobConfig"):
    """Register the job's font faces, load its layout, then apply the job's fallback chains (which
    override the layout's). Font problems raise :class:`ConfigError` (exit 12) naming the job file."""
    from . import fonts
    from .layout import load_layout
    for family, files, _ in job.font_faces:
        for file, bold, italic in files:
            try:
                fonts.register_font(file, alias=family, family=family, bold=bold, italic=italic)
            except (ValueError, OSError) as exc:
                raise ConfigError(f"{_where(job.path, 'fonts', 'face')}: {family!r}: {file} is not a "
                                  f"usable font: {exc}") from None
    layout = load_layout(job.layout)
    from .fonts import shaping             # complex scripts: shaped for PDF, refused in AFP runs
    shaping.set_complex_text("afp" not in job.formats, AFP_COMPLEX_TEXT)
    check_media(job, layout)
    try:
        if job.font_fallback is not None:
            fonts.set_fallbacks(job.font_fallback)
        for family, _, chain in job.font_faces:
            if chain is not None:
                fonts.set_fallbacks(chain, family=family)
    except KeyError as exc:
        raise ConfigError(f"{_where(job.path, 'fonts', 'fallback')}: {exc.args[0]}") from None
    return layout


def check_media(job: "JobConfig", layout) -> None:
    """Every ``paper`` a page template of the layout names must be a medium of the job's ``[media]``
    table (its input bin for AFP, its line in the media ticket): a :class:`ConfigError` (exit 12)
    naming the template's file and line otherwise."""
    known = {name for name, _, _ in job.media}
    for tmpl in layout.templates.values():
        if tmpl.paper and tmpl.paper not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"{tmpl.src}: page template {tmpl.name!r}: paper {tmpl.paper!r} is not in the job's "
                              f"[media] table (media: {listed}); add [media.{tmpl.paper}] with its bin to "
                              f"{job.path.name}" + jobschema.did_you_mean(tmpl.paper, sorted(known)))


def _media_section(table: dict) -> tuple:
    """``[media.NAME] bin = N, description = "…"`` → ((name, bin, description), …) in file order."""
    return tuple((str(name), int(spec.get("bin", 1)), str(spec.get("description", "")))
                 for name, spec in table.items())


def _read(path: Path) -> tuple[dict, str]:
    """The parsed job file and its text."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: job file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a valid TOML file: byte {exc.start} is not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"{path}:{m.group(1)}:{m.group(2)}" if m else f"{path}"
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) if m else str(exc)
        raise ConfigError(f"{where}: not a valid TOML file: {reason}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the job file: {exc.strerror}") from None
    return data, text


def load_job(path: str | Path, overrides: dict | None = None) -> JobConfig:
    """Read and check a job file; ``overrides`` (from the command line) win over the file.

    Override keys: ``input`` (path), ``output_dir``, ``date``, ``formats``, ``workers``,
    ``max_rejects``, ``max_reject_rate``, ``work_dir``, ``index_formats``.

    Every section and key is checked against :mod:`ccm_batch.jobschema` first, and every problem
    found is reported at once (one ``job.toml:LINE: [section] key: message`` line each); then the
    stages' own checks run ([input], [mail] and its rule packs, templates). All of this happens
    before a record is read: ``run`` and ``validate`` reject the same jobs.
    Paths given as overrides resolve against the current directory (command line), those in the
    file against its directory.
    """
    path = Path(path).resolve() if path else None
    overrides = {k: v for k, v in (overrides or {}).items() if v not in (None, (), [])}
    data, text = _read(path)
    ctx = _Context(path, jobschema.TomlSource(text))
    problems = [jobschema.located(path, ctx.source, p.section, p.key, p.message)
                for p in jobschema.check(data)]
    problems += _check_overrides(overrides)
    job = data.get("job", {})
    if "date" not in job and "date" not in overrides:
        problems.append(f"{ctx.where('job', 'date')}: missing; every run needs a job date "
                        "(used for all dates and ids in the outputs), e.g. date = \"2026-11-23\"")
    if "input" not in data:
        problems.append(f"{path}: missing [input] section (path, format, record)")
    if "layout" not in data:
        problems.append(f"{path}: missing [layout] section (path = the layout definition to use)")
    if problems:
        raise ConfigError("\n".join(problems))
    base = path.parent

    name = str(job.get("name") or path.stem)
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ctx.error("job", "name", f"{name!r} may only hold letters, digits, - and _")
    date = _parse_date(overrides.get("date", job.get("date")))

    from .records.config import InputConfig
    input_table = dict(data["input"])
    if "input" in overrides:
        input_table["path"] = str(Path(overrides["input"]).resolve())
    try:
        input_cfg = InputConfig.from_dict(input_table, base)
    except ConfigError as exc:
        raise ctx.stage_error(exc) from None

    layout_path = _resolve(base, data["layout"]["path"])
    if not layout_path.is_file():
        raise ctx.error("layout", "path", f"{layout_path} does not exist")

    output = data.get("output", {})
    out_dir = Path(overrides["output_dir"]).resolve() if "output_dir" in overrides \
        else _resolve(base, output.get("dir", "out"))
    formats = _formats(overrides.get("formats", output.get("formats", ["pdf"])))
    file_name = output.get("name", "{job}_{stream}_{seq:03d}")
    if not isinstance(file_name, str):
        raise ConfigError(f"{_where(path, 'output', 'name')}: expected a file name template")
    try:
        sample = file_name.format(job="j", stream="s", seq=1, date=date, carrier="c", product="p",
                                  envelope="e", kind="k")
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ctx.error("output", "name", f"bad file name template {file_name!r}: "
                        f"use {{job}}, {{stream}}, {{seq:03d}}, {{date}}, {{carrier}}, {{product}}, "
                        f"{{envelope}}, {{kind}} ({exc})") from None
    if not _plain_file_name(sample):
        raise ctx.error("output", "name", f"{file_name!r} gives {sample!r}, which is not a plain file name: "
                        "print files are always written in the output directory (choose it with [output] dir "
                        "or --output); the name may not hold '/', '\\', '..' or start with '.'")
    work_dir = overrides.get("work_dir") or output.get("work_dir")
    if "work_dir" in overrides:
        work_dir = Path(work_dir).resolve()
    else:
        work_dir = _resolve(base, work_dir) if work_dir else None
    if work_dir is not None:
        _check_work_dir(path, work_dir, out_dir)
    image_dirs = _image_dirs(path, base, data.get("layout", {}).get("image_dirs"))

    index = data.get("index", {})
    index_formats = _formats(overrides.get("index_formats", index.get("formats", ["csv"])))

    rejects = data.get("rejects", {})
    max_rejects = overrides.get("max_rejects", rejects.get("max_rejects"))
    max_rate = overrides.get("max_reject_rate", rejects.get("max_reject_rate"))

    run = data.get("run", {})
    workers = overrides.get("workers", run.get("workers", 0))     # default: one per core
    if workers in (0, "auto"):
        workers = os.cpu_count() or 1
    chunk = run.get("chunk_size", 200)
    executor = overrides.get("executor", run.get("executor", "local"))
    scheduler = overrides.get("scheduler", run.get("scheduler", ""))
    if not scheduler and run.get("scheduler_file"):
        scheduler = "file:" + str(_resolve(base, run["scheduler_file"]))
    if scheduler and executor != "dask":
        executor = "dask"                     # naming a scheduler means running on it

    _check_mail(ctx, data.get("mail"), base, date)

    from .einvoice.config import load_einvoice_config
    try:
        einvoice = load_einvoice_config(data.get("einvoice"), base)
    except ConfigError as exc:
        raise ctx.stage_error(exc) from None
    from .history.config import read_history_config
    try:
        history = read_history_config(path, data, out_dir, date)
    except ConfigError as exc:
        raise ctx.stage_error(exc) if not str(exc).startswith(str(path)) else exc from None

    return JobConfig(
        path=path, name=name, date=date, title=str(job.get("title", name)), input=input_cfg,
        layout=layout_path, output_dir=out_dir, image_dirs=image_dirs, formats=formats, file_name=file_name, work_dir=work_dir,
        index_formats=index_formats, archive_pdf=bool(index.get("archive_pdf", False)),
        archive_name=index.get("archive_name", "{customer_id}_{doc_type}_{date}_{doc_id}"),
        verify_field=str(index.get("verify_field", "doc_id")), cmod_codepage=int(index.get("cmod_codepage", 819)),
        cmod_absolute_filename=bool(index.get("cmod_absolute_filename", False)),
        max_rejects=max_rejects, max_reject_rate=max_rate,
        min_records_for_rate=int(rejects.get("min_records_for_rate", 100)),
        fields=_field_specs(ctx, data.get("fields", {})), mail=data.get("mail"), einvoice=einvoice,
        workers=workers, chunk_size=chunk, executor=executor, scheduler=scheduler, history=history,
        channels=_channels(path, data.get("channels")), raw=data, media=_media_section(data.get("media", {})),
        **_fonts_section(path, data.get("fonts", {})))


def _check_mail(ctx: _Context, table: dict | None, base: Path, date: str) -> None:
    """Build the ``[mail]`` options and find the rule packs now, as the plan phase will: a mistake
    there must stop the run before the first record, not after the compose phase."""
    if table is None:
        return
    from .mail.config import MailConfig
    from .mail.rules import load_rulebook
    try:
        cfg = MailConfig.from_dict(table, base)
    except ConfigError as exc:
        raise ctx.stage_error(exc) from None
    if not cfg.enabled:
        return
    try:
        book = load_rulebook(cfg.rule_dirs, date)
    except ConfigError as exc:
        raise ctx.error("mail", "rules_dir", re.sub(r"^mail: ", "", str(exc))) from None
    if not book.packs:
        raise ctx.error("mail", "rules_dir", f"no rule pack valid on {date} in "
                        f"{', '.join(map(str, cfg.rule_dirs))}")
    carriers = sorted({p.carrier for p in book.packs.values()})
    named = [("mail.carriers", country, carrier) for country, carrier in cfg.carriers.items()]
    named += [("mail", "international_carrier", cfg.international_carrier)]
    named += [("mail.envelopes", carrier, carrier) for carrier in cfg.envelopes]
    for section, key, carrier in named:
        if carrier not in carriers:
            raise ctx.error(section, key, f"no rule pack for carrier {carrier!r} on {date}"
                            + jobschema.did_you_mean(carrier, carriers)
                            + f" (carriers with a pack: {', '.join(carriers)})")
    for carrier, sizes in cfg.envelopes.items():
        for size, envelope in sizes.items():
            try:
                book.envelope(envelope)
            except ConfigError as exc:
                raise ctx.error(f"mail.envelopes.{carrier}", size, re.sub(r"^mail: ", "", str(exc))) from None


def check_with_layout(job: JobConfig, layout) -> None:
    """The job keys that name the layout's fields, checked once the layout is loaded (before any
    record): ``[index] archive_name`` and ``verify_field`` must use fields the documents carry."""
    import string
    from .archive.tle import FIXED_FIELDS
    index_names = [str(name) for name, _expr in getattr(getattr(layout, "meta", None), "index", ()) or ()]
    known = list(FIXED_FIELDS) + ["record_number"] + index_names
    try:
        text = job.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, AttributeError, TypeError):
        text = ""
    ctx = _Context(job.path, jobschema.TomlSource(text))
    if getattr(job, "per_document_pdf", job.archive_pdf):
        template = job.archive_name[:-4] if job.archive_name.lower().endswith(".pdf") else job.archive_name
        try:
            names = [f for _lit, f, _spec, _conv in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise ctx.error("index", "archive_name", f"bad template {job.archive_name!r}: {exc}") from None
        for name in names:
            if name not in known:
                raise ctx.error("index", "archive_name", f"{{{name}}} is not a field of the documents"
                                + jobschema.did_you_mean(name, known) + f" (known: {', '.join(known)})")
    if job.verify_field not in known[:len(FIXED_FIELDS)] + index_names:
        raise ctx.error("index", "verify_field", f"{job.verify_field!r} is not a field of the documents"
                        + jobschema.did_you_mean(job.verify_field, known)
                        + f" (known: {', '.join(FIXED_FIELDS + tuple(index_names))})")


def _channels(path: Path, table):
    if table is None:
        return None
    from .channels.config import read_channels
    return read_channels(path, table)


def with_overrides(job: JobConfig, **changes) -> JobConfig:
    """A copy of ``job`` with some fields replaced (used by tests and reprints)."""
    return replace(job, **changes)
