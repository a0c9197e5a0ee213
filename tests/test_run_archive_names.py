"""The archive's one PDF per document: two documents of different print files never share a file. A
template that names them alike stops the run before anything is released (it used to keep the last one
written and point both index rows at it); a print file re-rendered after a kill finds its own PDFs."""
from __future__ import annotations

import pytest

from runjobs import make_extract, output_files, run_cli, write_job

CRASHED = -9


def archive_job(directory, data, name: str):
    """Six invoices over three print files (two pieces each), one archived PDF per document."""
    job = write_job(directory, data, extra="[mail]\nenabled = true\nmax_pieces_per_file = 2\n",
                    formats=("pdf",), chunk_size=3)
    job.write_text(job.read_text().replace('formats = ["csv", "jsonl", "cmod"]', 'formats = ["csv"]')
                   .replace("[index]\n", f"[index]\narchive_pdf = true\narchive_name = \"{name}\"\n"))
    assert "archive_pdf = true" in job.read_text()
    return job


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    return make_extract(tmp_path_factory.mktemp("names") / "inv.xml", 6)


@pytest.mark.parametrize("options", [("-w", "1"), ("-w", "2"), ("--executor", "dask", "-w", "1")],
                         ids=["serial", "workers", "dask"])
def test_one_name_for_documents_of_two_print_files_stops_the_run_and_releases_nothing(tmp_path, extract, options):
    job = archive_job(tmp_path, extract, "{doc_type}")          # every document: invoice.pdf, invoice_2.pdf
    proc = run_cli("run", job, *options)
    assert proc.returncode == 12, proc.stderr
    assert "both be archived as invoice" in proc.stderr and "archive_name '{doc_type}'" in proc.stderr
    assert "{doc_id}" in proc.stderr and "nothing was released" in proc.stderr
    assert [p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".ccm")] == []


def test_documents_named_apart_within_a_print_file_keep_their_suffixes(tmp_path, extract):
    """Alike names within one print file still take _2, _3 (one print file: no clash between files)."""
    job = archive_job(tmp_path, extract, "{doc_type}")
    job.write_text(job.read_text().replace("max_pieces_per_file = 2", "max_pieces_per_file = 6"))
    proc = run_cli("run", job, "-w", "1")
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / "out" / "archive").iterdir())
    assert names == ["invoice.pdf"] + [f"invoice_{n}.pdf" for n in range(2, 7)]


@pytest.mark.parametrize("moved", [1, 3])
def test_a_print_file_killed_while_moving_its_archived_pdfs_is_rendered_again_on_restart(tmp_path, extract, moved):
    """Killed after ``moved`` archived PDFs reached the archive directory: the restart renders the print
    file again, finds its own PDFs there (same bytes) and gives the uninterrupted run's outputs."""
    reference = tmp_path / "reference"
    reference.mkdir()
    assert run_cli("run", archive_job(reference, extract, "{customer_id}_{doc_id}"), "-w", "1").returncode == 0
    expected = output_files(reference / "out")
    assert sum(name.startswith("archive/") for name in expected) == 6
    job = archive_job(tmp_path, extract, "{customer_id}_{doc_id}")
    crashed = run_cli("run", job, "-w", "1", env={"CCM_FAULT": f"archive:{moved}"})
    assert crashed.returncode == CRASHED, crashed.stderr
    staged = tmp_path / "out" / ".ccm-work-inv" / "staging" / "archive"
    assert len(list(staged.iterdir())) == moved
    proc = run_cli("run", job, "--restart", "-w", "1")
    assert proc.returncode == 0, proc.stderr
    assert output_files(tmp_path / "out") == expected


@pytest.mark.parametrize("links", [True, False], ids=["hard links", "no hard links"])
def test_moving_archived_pdfs_takes_free_names_keeps_its_own_and_refuses_another_documents(tmp_path, monkeypatch,
                                                                                          links):
    """move_archived itself, with and without hard links on the file system (EPERM from link)."""
    import errno
    import os

    from ccm_batch.errors import ConfigError
    from ccm_batch.run.render_phase import move_archived
    if not links:
        def no_link(src, dst, *args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted")
        monkeypatch.setattr(os, "link", no_link)
    archive = tmp_path / "archive"

    def parts(**files):
        d = tmp_path / "parts"
        d.mkdir()
        for name, data in files.items():
            (d / f"{name}.pdf").write_bytes(data)
        return d
    move_archived(parts(a=b"%PDF a", b=b"%PDF b"), archive, "{doc_id}")           # free names
    move_archived(parts(b=b"%PDF b", c=b"%PDF c"), archive, "{doc_id}")           # b: its own, moved before
    assert {p.name: p.read_bytes() for p in archive.iterdir()} == {"a.pdf": b"%PDF a", "b.pdf": b"%PDF b",
                                                                  "c.pdf": b"%PDF c"}
    with pytest.raises(ConfigError, match="both be archived as a.pdf"):
        move_archived(parts(a=b"%PDF another document"), archive, "{doc_id}")
    assert (archive / "a.pdf").read_bytes() == b"%PDF a"                         # never overwritten
    assert (tmp_path / "parts" / "a.pdf").exists()                               # kept in the work directory
