"""The commit (issue 19.3, 19.4): a kill -9 at every step of the release and clean-up, then ``--restart``,
gives the uninterrupted run's bytes, exit 0 and no work directory; a work directory on another file
system (two tmpfs mounts) gives the same bytes; a run ending with exit 8 releases nothing."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runjobs import make_extract, output_files, run_cli, write_job

MAIL = "[mail]\nenabled = true\nmax_pieces_per_file = 6\n"
CRASHED = -9                    # CCM_FAULT kills the run itself with SIGKILL


def small_job(directory: Path, data: Path, extra: str = "") -> Path:
    """A print file, its index, the three mail production files and the archive's one PDF per document
    (released as a directory, file by file): few files, few commit steps."""
    job = write_job(directory, data, extra=MAIL + extra, formats=("pdf",), chunk_size=3)
    job.write_text(job.read_text().replace('formats = ["csv", "jsonl", "cmod"]', 'formats = ["csv"]')
                   .replace("[index]\n", "[index]\narchive_pdf = true\n"))
    assert "archive_pdf = true" in job.read_text()
    return job


def leftovers(out: Path) -> list[str]:
    """Anything of the engine's own left in the output directory (work, release, record, lock)."""
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".ccm"))


def visible(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(out).parts))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    data = make_extract(d / "invoices.xml", 6)
    proc = run_cli("run", small_job(d, data), "-w", 1)
    assert proc.returncode == 0, proc.stderr
    expected = output_files(d / "out")
    archived = sorted(name for name in expected if name.startswith("archive/"))
    assert len(archived) == 6
    assert sorted(expected) == archived + ["inv.mailrun.csv", "inv.postage.csv", "inv.trays.csv",
                                          "inv_laposte-li-dl_001.pdf", "inv_laposte-li-dl_001.pdf.index.csv"]
    report = json.loads((d / "out" / "report.json").read_text())
    assert {"path": "archive/", "files": 6, "size": sum(len(expected[name]) for name in archived)} \
        in report["files"]
    assert leftovers(d / "out") == []
    return data, expected


def _every_commit_step(job: Path, dirs: list[Path], out: Path, expected: dict, until_decided=False,
                       earlier: tuple = ()) -> int:
    """Kill the run at each commit step in turn, restart it, compare; returns the number of steps.

    The run is first killed just before its commit and ``dirs`` (output and work directories) are
    saved; each round restores them and lets a restart — the same commit code — die at step n, then
    restarts again without a fault (the compose and render phases are not redone each round).
    ``earlier``: files of an earlier release already in the output directory, to be left as they are.
    """
    crashed = run_cli("run", job, "-w", 1, env={"CCM_FAULT": "commit:1"})
    assert crashed.returncode == CRASHED, crashed.stderr
    saved = [d.with_name(d.name + ".saved") for d in dirs]
    for d, keep in zip(dirs, saved):
        shutil.copytree(d, keep, symlinks=True)
    n = 0
    while True:
        n += 1
        assert n < 100
        for d, keep in zip(dirs, saved):
            shutil.rmtree(d)
            shutil.copytree(keep, d, symlinks=True)
        killed = run_cli("run", job, "--restart", "-w", 1, env={"CCM_FAULT": f"commit:{n}"})
        if killed.returncode == 0:          # past the last step: an uninterrupted commit
            assert output_files(out) == expected
            return n - 1
        assert killed.returncode == CRASHED, (n, killed.stderr)
        decided = (out / ".ccm-commit-inv.json").exists()
        if not decided:                     # not released yet: nothing that looks finished
            assert visible(out) == sorted(earlier), (n, visible(out))
        restarted = run_cli("run", job, "--restart", "-w", 1)
        assert restarted.returncode == 0, (n, restarted.stderr)
        assert output_files(out) == expected, n
        assert leftovers(out) == [], (n, leftovers(out))
        assert all(not any(p.name.startswith(".ccm") for p in d.iterdir()) for d in dirs), n
        report = json.loads((out / "report.json").read_text())
        assert report["exit_code"] == 0 and report["reconciliation"]["ok"], n
        if decided:
            assert "release is now complete" in restarted.stderr, n
            if until_decided:
                return n


def test_kill_at_every_commit_step_then_restart_gives_the_same_outputs(tmp_path, reference):
    data, expected = reference
    job = small_job(tmp_path, data)
    steps = _every_commit_step(job, [tmp_path / "out"], tmp_path / "out", expected)
    # start, manifest, transfer (5 files, the archive directory whole), reports (2), decision (3),
    # publish (7 files, the archive directory whole), clean-up (3)
    assert steps >= 1 + 1 + 6 + 2 + 3 + 8 + 3


def test_kill_at_every_step_with_an_archive_directory_already_there(tmp_path, reference):
    """The output directory has an ``archive/`` of an earlier release: the archived PDFs are published
    into it one by one, each a step a kill can interrupt, and the earlier files stay as they were."""
    data, expected = reference
    job = small_job(tmp_path, data)
    out = tmp_path / "out"
    (out / "archive").mkdir(parents=True)
    (out / "archive" / "earlier.pdf").write_bytes(b"%PDF-1.7 an earlier run's")
    steps = _every_commit_step(job, [out], out, {**expected, "archive/earlier.pdf": b"%PDF-1.7 an earlier run's"},
                               earlier=("archive/earlier.pdf",))
    assert steps >= 1 + 1 + 6 + 2 + 3 + 13 + 3       # publish: 7 files and the 6 archived PDFs one by one


def test_the_archive_directory_is_released_by_renaming_it_whole(tmp_path, reference):
    """The staged archive directory (one PDF per document) becomes the output's ``archive/`` by two
    renames of the directory, not one per file: the same directory (inode) at the end."""
    data, expected = reference
    job = small_job(tmp_path, data)
    out = tmp_path / "out"
    crashed = run_cli("run", job, "-w", 1, env={"CCM_FAULT": "commit:1"})
    assert crashed.returncode == CRASHED, crashed.stderr
    staged = os.stat(out / ".ccm-work-inv" / "staging" / "archive").st_ino
    proc = run_cli("run", job, "--restart", "-w", 1)
    assert proc.returncode == 0, proc.stderr
    assert os.stat(out / "archive").st_ino == staged
    assert output_files(out) == expected and leftovers(out) == []


@pytest.mark.parametrize("moment", ["release", "record"])
def test_real_kill_during_the_commit_then_restart(tmp_path, reference, moment):
    """A real SIGKILL as soon as the commit is seen under way (release directory or commit record
    present): wherever it lands, the restart gives the same outputs."""
    data, expected = reference
    job = small_job(tmp_path, data)
    out = tmp_path / "out"
    sign = out / (".ccm-release-inv" if moment == "release" else ".ccm-commit-inv.json")
    run = subprocess.Popen([sys.executable, "-m", "ccm_batch.cli", "run", str(job), "-w", "1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not sign.exists() and run.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    run.kill()
    run.communicate()
    proc = run_cli("run", job, "--restart", "-w", 1)
    assert proc.returncode == 0, proc.stderr
    assert output_files(out) == expected and leftovers(out) == []


def test_kill_after_the_last_step_then_restart_says_already_complete(tmp_path, reference):
    data, expected = reference
    job = small_job(tmp_path, data)
    assert run_cli("run", job, "-w", 1).returncode == 0
    proc = run_cli("run", job, "--restart", "-w", 1)
    assert proc.returncode == 0, proc.stderr
    assert "already complete" in proc.stderr
    assert output_files(tmp_path / "out") == expected and leftovers(tmp_path / "out") == []


def test_fresh_run_after_a_kill_during_publication_completes_then_reruns(tmp_path, reference):
    data, expected = reference
    job = small_job(tmp_path, data)
    crashed = run_cli("run", job, "-w", 1, env={"CCM_FAULT": "commit:20"})     # publishing
    assert crashed.returncode == CRASHED
    assert (tmp_path / "out" / ".ccm-commit-inv.json").exists()
    proc = run_cli("run", job, "-w", 1)
    assert proc.returncode == 0, proc.stderr
    assert output_files(tmp_path / "out") == expected and leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("case", ["reject-limit", "malformed"])
def test_exit_8_releases_nothing_not_even_rejects_or_empty_mail_files(tmp_path, reference, case):
    data, _ = reference
    text = data.read_text(encoding="utf-8")
    bad = tmp_path / "bad.xml"
    if case == "malformed":
        pos = text.index('<customer id="C0000004">')
        bad.write_text(text[:pos] + "<customer id='oops'><name>unclosed</customer>\n" + text[pos:],
                       encoding="utf-8")
        extra = ""
    else:
        bad.write_text(text.replace("<ht>", "<ht>x", 2), encoding="utf-8")
        extra = "[rejects]\nmax_rejects = 1\n"
    proc = run_cli("run", small_job(tmp_path, bad, extra), "-w", 1)
    assert proc.returncode == 8, proc.stderr
    out = tmp_path / "out"
    assert visible(out) == ["report.json", "report.txt"]
    report = json.loads((out / "report.json").read_text())
    assert report["files"] == []
    kept = Path(report["not_released"]["kept_in"])
    if case == "reject-limit":
        assert (kept / "inv.rejects.xml").exists()      # kept for inspection, not released


# -- a work directory on another file system ----------------------------------------------------

def _mount_tmpfs(path: Path) -> None:
    path.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(path)], check=True)


@pytest.fixture()
def two_filesystems(tmp_path):
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root: the cross-file-system commit test needs mount -t tmpfs")
        pytest.skip("needs root to mount two tmpfs file systems")
    a, b = tmp_path / "fs-out", tmp_path / "fs-work"
    mounted = []
    try:
        for p in (a, b):
            _mount_tmpfs(p)
            mounted.append(p)
        assert os.stat(a).st_dev != os.stat(b).st_dev
        yield a, b
    finally:
        for p in mounted:
            subprocess.run(["umount", "-l", str(p)], check=False)


def test_work_dir_on_another_file_system_gives_the_same_bytes(tmp_path, reference, two_filesystems):
    data, expected = reference
    out_fs, work_fs = two_filesystems
    scratch = work_fs / "scratch"
    job = small_job(tmp_path, data)
    job.write_text(job.read_text().replace('dir = "out"', f'dir = "{out_fs}/out"\nwork_dir = "{scratch}"'))
    proc = run_cli("run", job, "-w", 1)
    assert proc.returncode == 0, proc.stderr      # was: CCM0999S Invalid cross-device link, exit 16
    assert output_files(out_fs / "out") == expected
    assert leftovers(out_fs / "out") == [] and list(scratch.iterdir()) == []


def test_kill_at_every_step_across_file_systems_then_restart(tmp_path, reference, two_filesystems):
    data, expected = reference
    out_fs, work_fs = two_filesystems
    out, scratch = out_fs / "out", work_fs / "scratch"
    job = small_job(tmp_path, data)
    job.write_text(job.read_text().replace('dir = "out"', f'dir = "{out}"\nwork_dir = "{scratch}"'))
    # the steps that differ across file systems: the transfer (copy, fsync, rename) and the decision;
    # publication and clean-up are the same renames as in the test above
    # (start, manifest, 11 × (copied, renamed), reports, decision: the kill just after the record)
    assert _every_commit_step(job, [out, scratch], out, expected, until_decided=True) >= 1 + 1 + 22 + 2 + 2


def test_a_manifest_of_one_entry_per_file_from_an_earlier_version_is_released_as_it_was(tmp_path, reference):
    """A run killed just before its commit by a version that listed every staged file (archive PDFs
    included) in ``manifest.json``, then restarted by this one: the same outputs, each file released."""
    data, expected = reference
    job = small_job(tmp_path, data)
    out = tmp_path / "out"
    crashed = run_cli("run", job, "-w", 1, env={"CCM_FAULT": "commit:1"})      # before the manifest
    assert crashed.returncode == CRASHED, crashed.stderr
    run_dir = out / ".ccm-work-inv"
    staging = run_dir / "staging"
    assert not (run_dir / "manifest.json").exists()
    staged = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
    assert sum(name.startswith("archive/") for name in staged) == 6
    (run_dir / "manifest.json").write_text(json.dumps(staged))
    proc = run_cli("run", job, "--restart", "-w", 1)
    assert proc.returncode == 0, proc.stderr
    assert output_files(out) == expected and leftovers(out) == []
    report = json.loads((out / "report.json").read_text())
    assert sorted(f["path"] for f in report["files"]) == sorted(staged)
