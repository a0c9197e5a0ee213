"""Compose phase: local workers claim chunks from a shared counter, so a slowed worker composes fewer of them
and the others do not wait for it; every chunk is composed once and the spool is the same bytes."""
from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path

import ccm_batch.compose
from ccm_batch.job import load_job, load_job_layout
from ccm_batch.run.compose_phase import (CLAIMS_FILE, FileCounter, _Claims, _Listed, compose_all,
                                         done_chunks, load_chunk, missing_chunks)
from ccm_batch.spool import unpack_document
from runjobs import make_extract, write_job

CHUNK = 5


def _owners(readers: int, chunks: int, order: list[int], skip=frozenset(), counter=None) -> dict[int, int]:
    """Which reader owns each chunk when ``readers`` readers step through ``chunks`` chunks, one chunk per step,
    in the interleaving ``order`` (reader numbers; a reader no longer listed has stopped reading)."""
    counter = counter or multiprocessing.get_context("fork").Value("q", 0)
    claims = [_Claims(counter, set(skip)) for _ in range(readers)]
    position = [0] * readers
    owners: dict[int, int] = {}
    for r in order:
        chunk = position[r]
        if chunk >= chunks:
            continue
        if claims[r].owns(chunk):
            assert chunk not in owners, f"chunk {chunk} claimed twice"
            owners[chunk] = r
        position[r] += 1
    return owners


def test_claims_give_each_chunk_to_one_reader_in_any_interleaving():
    # in step: the readers alternate, so they alternate chunks
    assert _owners(2, 6, [0, 1] * 6) == {0: 0, 1: 1, 2: 0, 3: 1, 4: 0, 5: 1}
    # reader 1 holds its first chunk while reader 0 reads through the extract: reader 0 claims all the others
    assert _owners(2, 8, [0, 1] + [0] * 8 + [1] * 8) == {0: 0, 1: 1, **{c: 0 for c in range(2, 8)}}
    # a reader that falls behind jumps to the next free chunk, never to one behind it
    owners = _owners(3, 12, [0, 1, 2, 0, 0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 2, 1, 1, 0, 0, 0, 1, 2] + [0, 1, 2] * 12)
    assert sorted(owners) == list(range(12))
    # committed chunks (a restart) are skipped by every reader
    owners = _owners(2, 8, [0, 1] * 8, skip={1, 2, 6})
    assert sorted(owners) == [0, 3, 4, 5, 7]


def test_dask_tasks_claim_from_a_counter_file_in_the_spool(tmp_path):
    """Tasks on other machines share the spool, not memory: the same claims through a locked file."""
    def counter():
        FileCounter.start(tmp_path / CLAIMS_FILE)
        return FileCounter(tmp_path / CLAIMS_FILE)
    assert _owners(2, 8, [0, 1] + [0] * 8 + [1] * 8, counter=counter()) == {0: 0, 1: 1, **{c: 0 for c in range(2, 8)}}
    assert sorted(_owners(2, 8, [0, 1] * 8, skip={1, 2, 6}, counter=counter())) == [0, 3, 4, 5, 7]
    assert (tmp_path / CLAIMS_FILE).read_bytes() == b"9"             # the next chunk no task has claimed


def test_threads_of_one_process_claim_apart_through_the_counter_file(tmp_path):
    """A POSIX lock does not exclude the threads of the process holding it (one Dask worker, two threads):
    the counter file is also locked for the process, and threads claiming at once get distinct chunks."""
    from ccm_batch.run import compose_phase
    FileCounter.start(tmp_path / CLAIMS_FILE)
    with FileCounter(tmp_path / CLAIMS_FILE).get_lock():
        assert compose_phase._FILE_COUNTER_THREADS.locked()
    claimed: list[int] = []

    def claim_many():
        counter = FileCounter(tmp_path / CLAIMS_FILE)
        for _ in range(100):
            with counter.get_lock():
                claimed.append(counter.value)
                counter.value += 1

    threads = [threading.Thread(target=claim_many) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == list(range(600))
    assert (tmp_path / CLAIMS_FILE).read_bytes() == b"600"


def test_the_chunks_a_lost_worker_held_are_found(tmp_path):
    for c in (0, 1, 3, 5):
        (tmp_path / f"chunk-{c:06d}.rows").write_bytes(b"")
    ok = {"records": 28, "error": None}
    assert missing_chunks(tmp_path, [ok, dict(ok, records=20)], 5) == [2, 4]
    assert missing_chunks(tmp_path, [ok, dict(ok, error={"kind": "input"})], 5) == []   # the run reports the error
    assert missing_chunks(tmp_path, [], 5) == []


def test_a_list_of_chunks():
    assert [c for c in range(10) if _Listed([2, 5]).owns(c)] == [2, 5]


def _spool(spool: Path) -> dict:
    """What the spool holds, as the later phases read it: each chunk's documents (unpacked: the pickled
    bytes depend on what the worker composed before), rows less their spool offsets, rejects and warnings,
    and the fonts the chunks note together (a background's fonts are noted by the first chunk of a worker
    that draws it)."""
    chunks, fonts = {}, {}
    for c in sorted(done_chunks(spool)):
        result = load_chunk(spool, c)
        docs = []
        for row in result.rows:
            with open(spool / row.spool_file, "rb") as f:
                f.seek(row.spool_offset)
                docs.append(unpack_document(f.read(row.spool_length)))
        rows = [row._replace(spool_offset=0, spool_length=0) for row in result.rows]
        chunks[c] = (result.first, result.last, result.count, rows, docs, result.rejects, result.warnings)
        for font, chars in result.fonts.items():
            fonts.setdefault(font, set()).update(chars)
    return {"chunks": chunks, "fonts": fonts}


def test_a_slowed_worker_composes_fewer_chunks_and_the_spool_is_unchanged(tmp_path, monkeypatch):
    data = make_extract(tmp_path / "inv.xml", 8 * CHUNK)
    job_file = write_job(tmp_path, data, formats=("afp",), chunk_size=CHUNK)

    def compose(workers: int, name: str) -> dict[str, bytes]:
        job = load_job(job_file, {"workers": workers, "output_dir": str(tmp_path / f"out-{name}")})
        layout = load_job_layout(job)
        specs = list(getattr(layout, "field_specs", ())) + list(job.fields)
        spool = tmp_path / f"spool-{name}"
        spool.mkdir()
        statuses = compose_all(job, layout, specs, spool, lambda records, nbytes: None)
        assert [s["error"] for s in statuses] == [None] * workers
        assert [s["records"] for s in statuses] == [8 * CHUNK] * workers
        return _spool(spool)

    reference = compose(1, "one")

    # the worker holding chunk 0 waits in its first record until the other has reached the last chunk
    ctx = multiprocessing.get_context("fork")
    last_reached = ctx.Event()
    log = tmp_path / "composed.log"
    real = ccm_batch.compose.compose_document

    def slowed(layout, record, **kw):
        chunk = (record.number - 1) // CHUNK
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {chunk}\n")
        if record.number == 1:
            last_reached.wait(timeout=60)
        elif chunk == 7:
            last_reached.set()
        return real(layout, record, **kw)

    monkeypatch.setattr(ccm_batch.compose, "compose_document", slowed)
    assert compose(2, "two") == reference
    owner: dict[int, set] = {}
    for pid, chunk in (line.split() for line in log.read_text().splitlines()):
        owner.setdefault(int(chunk), set()).add(pid)
    assert sorted(owner) == list(range(8))
    assert all(len(pids) == 1 for pids in owner.values())
    slow = owner[0]
    assert [c for c in owner if owner[c] == slow] == [0]          # the slowed worker: its first chunk only
    assert last_reached.is_set()
