"""Job definition: the TOML job file (input, layout, outputs, indexes, reject limits, job date) and overrides.

A job file names everything a run needs; relative paths resolve against the job file's directory.
Command-line options override the file through :func:`load_job`'s ``overrides``. Every date or id a
run writes comes from ``job.date`` so that runs are reproducible.
"""
from __future__ import annotations

import datetime as _dt
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

FORMATS = ("pdf", "afp", "debug")
EXECUTORS = ("local", "dask")
INDEX_FORMATS = ("csv", "jsonl", "cmod")

_SECTIONS = {"job", "input", "layout", "output", "index", "rejects", "mail", "fields", "run", "einvoice",
             "history", "costs", "monitoring"}   # the last three: checked by ccm_batch.history.config
_KEYS = {
    "job": {"name", "date", "title", "deadline"},
    "layout": {"path", "image_dirs"},
    "output": {"dir", "formats", "name", "work_dir"},
    "index": {"formats", "archive_pdf", "archive_name", "verify_field", "cmod_codepage", "cmod_absolute_filename"},
    "rejects": {"max_rejects", "max_reject_rate", "min_records_for_rate"},
    "run": {"workers", "chunk_size", "executor", "scheduler", "scheduler_file"},
}


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


def _where(path: Path, section: str, key: str | None = None) -> str:
    return f"{path}: [{section}]" + (f" {key}" if key else "")


def _check_keys(path: Path, section: str, table: dict) -> None:
    allowed = _KEYS.get(section)
    if allowed is None:
        return
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{_where(path, section, key)}: unknown key "
                              f"(expected one of: {', '.join(sorted(allowed))})")


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


def _tuple_of(path: Path, section: str, key: str, value, allowed) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{_where(path, section, key)}: expected a list of names")
    for v in value:
        if v not in allowed:
            raise ConfigError(f"{_where(path, section, key)}: unknown format {v!r} "
                              f"(expected: {', '.join(allowed)})")
    return tuple(dict.fromkeys(value))


def _parse_date(path: Path, value) -> str:
    if isinstance(value, _dt.date):
        return value.isoformat()
    try:
        return _dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ConfigError(f"{_where(path, 'job', 'date')}: {value!r} is not a date (YYYY-MM-DD)") from None


def _field_specs(path: Path, table: dict) -> tuple:
    from .records.validate import FieldSpec
    specs = []
    for name, spec in table.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{_where(path, 'fields', name)}: expected a table "
                              "like {{ path = \"amount\", type = \"amount\" }}")
        try:
            specs.append(FieldSpec(name=name, path=spec.get("path", name),
                                   type=spec.get("type", "string"),
                                   required=spec.get("required", True),
                                   values=tuple(spec.get("values", ())),
                                   pattern=spec.get("pattern"),
                                   max_length=spec.get("max_length")))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{_where(path, 'fields', name)}: {exc}") from None
    return tuple(specs)


def load_job(path: str | Path, overrides: dict | None = None) -> JobConfig:
    """Read and check a job file; ``overrides`` (from the command line) win over the file.

    Override keys: ``input`` (path), ``output_dir``, ``date``, ``formats``, ``workers``,
    ``max_rejects``, ``max_reject_rate``, ``work_dir``, ``index_formats``. Paths given as overrides
    resolve against the current directory (command line), those in the file against its directory.
    """
    path = Path(path).resolve() if path else None
    overrides = {k: v for k, v in (overrides or {}).items() if v not in (None, (), [])}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: job file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not a valid TOML file: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the job file: {exc.strerror}") from None
    base = path.parent
    for section in data:
        if section not in _SECTIONS:
            raise ConfigError(f"{path}: unknown section [{section}] "
                              f"(expected: {', '.join(sorted(_SECTIONS))})")
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} must be a [{section}] table")
        _check_keys(path, section, table)

    job = data.get("job", {})
    name = str(job.get("name") or path.stem)
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"{_where(path, 'job', 'name')}: {name!r} may only hold letters, digits, - and _")
    if "date" not in job and "date" not in overrides:
        raise ConfigError(f"{_where(path, 'job', 'date')}: missing; every run needs a job date "
                          "(used for all dates and ids in the outputs), e.g. date = \"2026-11-23\"")
    date = _parse_date(path, overrides.get("date", job.get("date")))

    from .records.config import InputConfig
    if "input" not in data:
        raise ConfigError(f"{path}: missing [input] section (path, format, record)")
    input_table = dict(data["input"])
    if "input" in overrides:
        input_table["path"] = str(Path(overrides["input"]).resolve())
    input_cfg = InputConfig.from_dict(input_table, base)

    layout = data.get("layout", {}).get("path")
    if not layout:
        raise ConfigError(f"{_where(path, 'layout', 'path')}: missing (the layout definition to use)")
    layout_path = _resolve(base, layout)
    if not layout_path.is_file():
        raise ConfigError(f"{_where(path, 'layout', 'path')}: {layout_path} does not exist")

    output = data.get("output", {})
    out_dir = Path(overrides["output_dir"]).resolve() if "output_dir" in overrides \
        else _resolve(base, output.get("dir", "out"))
    formats = _tuple_of(path, "output", "formats", overrides.get("formats", output.get("formats", ["pdf"])),
                        FORMATS)
    file_name = output.get("name", "{job}_{stream}_{seq:03d}")
    if not isinstance(file_name, str):
        raise ConfigError(f"{_where(path, 'output', 'name')}: expected a file name template")
    try:
        sample = file_name.format(job="j", stream="s", seq=1, date=date, carrier="c", product="p",
                                  envelope="e", kind="k")
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{_where(path, 'output', 'name')}: bad file name template {file_name!r}: "
                          f"use {{job}}, {{stream}}, {{seq:03d}}, {{date}}, {{carrier}}, {{product}}, "
                          f"{{envelope}}, {{kind}} ({exc})") from None
    check_file_stem(sample, file_name, _where(path, "output", "name"))
    work_dir = overrides.get("work_dir") or output.get("work_dir")
    if "work_dir" in overrides:
        work_dir = Path(work_dir).resolve()
    else:
        work_dir = _resolve(base, work_dir) if work_dir else None
    if work_dir is not None:
        _check_work_dir(path, work_dir, out_dir)
    image_dirs = _image_dirs(path, base, data.get("layout", {}).get("image_dirs"))

    index = data.get("index", {})
    index_formats = _tuple_of(path, "index", "formats",
                              overrides.get("index_formats", index.get("formats", ["csv"])), INDEX_FORMATS)

    rejects = data.get("rejects", {})
    max_rejects = overrides.get("max_rejects", rejects.get("max_rejects"))
    max_rate = overrides.get("max_reject_rate", rejects.get("max_reject_rate"))
    if max_rejects is not None and (not isinstance(max_rejects, int) or max_rejects < 0):
        raise ConfigError(f"{_where(path, 'rejects', 'max_rejects')}: expected a whole number ≥ 0")
    if max_rate is not None and not (isinstance(max_rate, (int, float)) and 0 <= max_rate <= 1):
        raise ConfigError(f"{_where(path, 'rejects', 'max_reject_rate')}: expected a fraction between 0 and 1")

    run = data.get("run", {})
    workers = overrides.get("workers", run.get("workers", 0))     # default: one per core
    if workers in (0, "auto"):
        workers = os.cpu_count() or 1
    chunk = run.get("chunk_size", 200)
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"{_where(path, 'run', 'workers')}: expected a whole number ≥ 1")
    if not isinstance(chunk, int) or chunk < 1:
        raise ConfigError(f"{_where(path, 'run', 'chunk_size')}: expected a whole number ≥ 1")
    executor = overrides.get("executor", run.get("executor", "local"))
    if executor not in EXECUTORS:
        raise ConfigError(f"{_where(path, 'run', 'executor')}: {executor!r} is not one of {', '.join(EXECUTORS)}")
    scheduler = overrides.get("scheduler", run.get("scheduler", ""))
    if not scheduler and run.get("scheduler_file"):
        scheduler = "file:" + str(_resolve(base, run["scheduler_file"]))
    if scheduler and not isinstance(scheduler, str):
        raise ConfigError(f"{_where(path, 'run', 'scheduler')}: expected an address such as tcp://host:8786")
    if scheduler and executor != "dask":
        executor = "dask"                     # naming a scheduler means running on it

    from .einvoice.config import load_einvoice_config
    try:
        einvoice = load_einvoice_config(data.get("einvoice"), base)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    from .history.config import read_history_config
    history = read_history_config(path, data, out_dir, date)

    return JobConfig(
        path=path, name=name, date=date, title=str(job.get("title", name)), input=input_cfg,
        layout=layout_path, output_dir=out_dir, image_dirs=image_dirs, formats=formats, file_name=file_name, work_dir=work_dir,
        index_formats=index_formats, archive_pdf=bool(index.get("archive_pdf", False)),
        archive_name=index.get("archive_name", "{customer_id}_{doc_type}_{date}_{doc_id}"),
        verify_field=str(index.get("verify_field", "doc_id")), cmod_codepage=int(index.get("cmod_codepage", 819)),
        cmod_absolute_filename=bool(index.get("cmod_absolute_filename", False)),
        max_rejects=max_rejects, max_reject_rate=max_rate,
        min_records_for_rate=int(rejects.get("min_records_for_rate", 100)),
        fields=_field_specs(path, data.get("fields", {})), mail=data.get("mail"), einvoice=einvoice,
        workers=workers, chunk_size=chunk, executor=executor, scheduler=scheduler, history=history, raw=data)


def with_overrides(job: JobConfig, **changes) -> JobConfig:
    """A copy of ``job`` with some fields replaced (used by tests and reprints)."""
    return replace(job, **changes)
