"""Tests of the up-front job file check (issue 10 item 4): every key of every section is checked before a
record is read, each problem as ``job.toml:LINE: [section] key: message (did you mean …?)``, and
``validate`` rejects everything ``run`` would."""
from __future__ import annotations

import pytest

from ccm_batch.errors import ConfigError
from ccm_batch.job import load_job
from ccm_batch.jobschema import TomlSource, check
from runjobs import make_extract, run_cli, write_job


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    return make_extract(tmp_path_factory.mktemp("data") / "invoices.xml", 5)


def _line(job, text: str) -> int:
    return next(i for i, ln in enumerate(job.read_text().splitlines(), 1) if ln.strip().startswith(text))


def _errors(proc) -> list[str]:
    return [ln.split("CCM0100E ", 1)[1] for ln in proc.stderr.splitlines() if "CCM0100E" in ln]


# each reproduction of the issue: extra job text, the line it is blamed on, the message expected
CASES = {
    "householding-client": ('[mail]\nhouseholding = "client"\n', 'householding',
                            '[mail] householding: "client" is not allowed: expected one of "none", "customer", '
                            '"name_address", "surname_address"'),
    "householding-typo": ('[mail]\nhouseholdng = "customer"\n', 'householdng',
                          '[mail] householdng: unknown key (did you mean householding?)'),
    "omr-typo": ('[mail]\nenabled = true\n[mail.omr]\nx_mm = 2\nxmm = 2\n', 'xmm',
                 '[mail.omr] xmm: unknown key (did you mean x_mm?)'),
    "imb-typo": ('[mail]\n[mail.imb]\nenabeld = true\n', 'enabeld',
                 '[mail.imb] enabeld: unknown key (did you mean enabled?)'),
    "unknown-section": ('[rejets]\nmax_rejects = 3\n', '[rejets]',
                        '[rejets]: unknown section (did you mean [rejects]?)'),
    "bad-format": ('[rejects]\nmax_reject_rate = 2\n', 'max_reject_rate',
                   '[rejects] max_reject_rate: expected a number between 0 and 1, got 2'),
    "bool-as-string": ('[rejects]\nmax_rejects = true\n', 'max_rejects',
                       '[rejects] max_rejects: expected an integer ≥ 0, got true'),
    "omr-parity": ('[mail]\n[mail.omr]\nparity = "evn"\n', 'parity',
                   '[mail.omr] parity: "evn" is not allowed: expected one of "even", "odd" (did you mean even?)'),
    "carrier-typo": ('[mail]\ncarriers = { FR = "LAPOSTEE" }\n', 'carriers',
                     "[mail.carriers] FR: no rule pack for carrier 'LAPOSTEE' on 2026-11-23 (did you mean "
                     "LAPOSTE?) (carriers with a pack: LAPOSTE, USPS)"),
    "inline-table-key": ('[mail]\ninserts = { BRE = { feeder = 9 } }\n', 'inserts',
                         '[mail.inserts.BRE] feeder: expected an integer 1–8, got 9'),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["run", "validate"])
def test_each_bad_key_is_found_before_any_record_with_its_line(tmp_path, extract, case, command):
    extra, at, message = CASES[case]
    job = write_job(tmp_path, extract, extra=extra)
    proc = run_cli(command, job)
    assert proc.returncode == 12, proc.stderr
    assert f"{job}:{_line(job, at)}: {message}" in _errors(proc)
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()       # nothing was started: no output or work directory


def test_input_typo_names_file_line_and_suggestion(tmp_path, extract):
    job = write_job(tmp_path, extract)
    job.write_text(job.read_text().replace('record = "customer"', 'recrod = "customer"'))
    with pytest.raises(ConfigError) as err:
        load_job(job)
    assert f"{job}:{_line(job, 'recrod')}: [input] recrod: unknown key (did you mean record?)" in str(err.value)


def test_workers_message_says_zero_is_valid(tmp_path, extract):
    job = write_job(tmp_path, extract)
    job.write_text(job.read_text().replace("[run]\n", '[run]\nworkers = "two"\n'))
    proc = run_cli("validate", job)
    assert proc.returncode == 12
    assert _errors(proc) == [f'{job}:{_line(job, "workers")}: [run] workers: expected an integer ≥ 0 or "auto" '
                             '(0 = one per core), got "two"']
    job.write_text(job.read_text().replace('workers = "two"', "workers = 0"))
    assert load_job(job).workers >= 1


def test_bad_date_option_is_blamed_on_the_option_not_the_file(tmp_path, extract):
    job = write_job(tmp_path, extract)
    proc = run_cli("run", job, "--date", "2026-02-30")
    assert proc.returncode == 12
    assert _errors(proc) == ['--date: "2026-02-30" is not a date (YYYY-MM-DD)']
    assert str(job) not in proc.stderr
    proc = run_cli("run", job, "-w", "-1")
    assert _errors(proc) == ["--workers: expected an integer ≥ 0 or \"auto\" (0 = one per core), got -1"]


def test_every_problem_is_reported_at_once(tmp_path, extract):
    job = write_job(tmp_path, extract, extra='[mail]\nhouseholdng = "customer"\nsplit = "halves"\n[typo]\n')
    job.write_text(job.read_text().replace('key = "@id"', 'key = "@id"\nencodng = "utf-8"'))
    proc = run_cli("validate", job)
    assert proc.returncode == 12
    errors = _errors(proc)
    assert [e.split(": ", 2)[1] for e in errors] == [
        "[input] encodng", "[mail] householdng", "[mail] split", "[typo]"]
    assert all(e.startswith(f"{job}:") for e in errors)


def test_rule_pack_problems_are_found_up_front(tmp_path, extract):
    job = write_job(tmp_path, extract, extra='[mail]\nrules_dir = "no-such-rules"\n')
    proc = run_cli("run", job)
    assert proc.returncode == 12
    assert _errors(proc)[0].startswith(f"{job}:{_line(job, 'rules_dir')}: [mail] rules_dir: rules directory")


def test_envelope_overrides_are_checked_against_the_catalogue(tmp_path, extract):
    job = write_job(tmp_path, extract, extra='[mail]\nenvelopes = { LAPOSTE = { standard = "DX" } }\n')
    with pytest.raises(ConfigError) as err:
        load_job(job)
    assert str(err.value).startswith(f"{job}:{_line(job, 'envelopes')}: [mail.envelopes.LAPOSTE] standard: "
                                     "envelope 'DX' is not in the catalogue (")
    job = write_job(tmp_path, extract, extra='[mail]\nenvelopes = { LAPOSTE = { standrd = "DL" } }\n')
    with pytest.raises(ConfigError, match=r"\[mail.envelopes.LAPOSTE\] standrd: unknown key \(did you mean "
                                          r"standard\?\)"):
        load_job(job)


@pytest.mark.parametrize("index, at, message", [
    ('cmod_codepage = 1234', "cmod_codepage",
     "[index] cmod_codepage: expected one of 37, 500, 819, 850, 1208, 1252, got 1234"),
    ('archive_pdf = true\narchive_name = "{customer_id}_{doc_idd}"', "archive_name",
     "[index] archive_name: {doc_idd} is not a field of the documents (did you mean doc_id?)"),
    ('verify_field = "doc_idd"', "verify_field",
     "[index] verify_field: 'doc_idd' is not a field of the documents (did you mean doc_id?)"),
])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_index_keys_are_checked_before_any_record(tmp_path, extract, index, at, message, command):
    job = write_job(tmp_path, extract)
    job.write_text(job.read_text().replace('[index]\n', f'[index]\n{index}\n'))
    proc = run_cli(command, job)
    assert proc.returncode == 12, proc.stderr
    assert _errors(proc)[0].startswith(f"{job}:{_line(job, at)}: {message}")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.pdf"))


def test_stage_checks_get_the_line_too(tmp_path, extract):
    job = write_job(tmp_path, extract, extra='[mail]\n[mail.omr]\npitch_mm = 9\n')
    with pytest.raises(ConfigError) as err:
        load_job(job)
    assert str(err.value).startswith(f"{job}:{_line(job, 'pitch_mm')}: [mail.omr] pitch_mm must be within")


def test_toml_syntax_error_has_its_line(tmp_path, extract):
    job = write_job(tmp_path, extract, extra="[mail\n")
    proc = run_cli("validate", job)
    assert proc.returncode == 12
    assert _errors(proc)[0].startswith(f"{job}:{_line(job, '[mail')}:")


def test_sample_jobs_pass_the_check():
    from pathlib import Path
    for job in sorted((Path(__file__).resolve().parent.parent / "samples").glob("*.toml")):
        load_job(job)


def test_toml_source_finds_tables_dotted_and_inline_keys():
    text = ('[job]\nname = "x"\ndesc = """\nfake = 1\n"""\n[mail]\nomr.x_mm = 3\n'
            'carriers = { FR = "LAPOSTE", "US" = "USPS" }\n[mail.imb]\nenabled = true\n')
    src = TomlSource(text)
    assert src.line_of("job", "name") == 2
    assert src.line_of("job", "fake") == 1           # in a multi-line string: the table's line
    assert src.line_of("mail.omr", "x_mm") == 7
    assert src.line_of("mail.carriers", "US") == 8
    assert src.line_of("mail.imb", "enabled") == 10
    assert src.line_of("mail.imb", "nothing") == 9
    assert src.line_of("nowhere") is None
    src = TomlSource('[input.csv]\ncolumns = [\n  ["a"],   # ] a comment\n  "b]"]\nheader = true\n')
    assert src.line_of("input.csv", "header") == 5        # the array's lines are not tables
    assert src.line_of("a") is None


def test_schema_accepts_every_documented_type():
    assert check({"run": {"workers": "auto", "chunk_size": 5}, "output": {"formats": "pdf"},
                  "input": {"path": "x", "csv": {"columns": {"H": ["a"], "D": ["b"]}}},
                  "mail": {"inserts": {"BRE": 2, "X": {"feeder": 3, "weight_g": 1.5}}}}) == []
    problems = check({"input": {"path": "x", "csv": {"delimiter": ";;", "columns": "a,b"}}})
    assert [(p.section, p.key) for p in problems] == [("input.csv", "delimiter"), ("input.csv", "columns")]


def test_einvoice_section_is_checked_with_lines(tmp_path, extract):
    job = write_job(tmp_path, extract, extra='[einvoice]\nmapping = "m.toml"\nprofile = "en1693"\nrout = "b2b"\n')
    proc = run_cli("validate", job)
    assert proc.returncode == 12
    assert _errors(proc) == [
        f'{job}:{_line(job, "profile")}: [einvoice] profile: "en1693" is not allowed: expected one of "minimum", '
        '"basicwl", "basic", "en16931", "extended" (did you mean en16931?)',
        f'{job}:{_line(job, "rout")}: [einvoice] rout: unknown key (did you mean route?)']


def test_executor_option_is_blamed_on_the_option(tmp_path, extract):
    job = write_job(tmp_path, extract)
    with pytest.raises(ConfigError, match=r'^--executor: "spark" is not allowed'):
        load_job(job, {"executor": "spark"})
