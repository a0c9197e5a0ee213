"""Run orchestration, commit: release the staged outputs all-or-nothing, then clean up what the run made.

The protocol has one point of truth, the commit record ``OUTPUT/.ccm-commit-JOB.json``:

1. *transfer*: every staged file (the list is fixed once in the work directory's ``manifest.json``:
   the files at the top of the staging directory, and each directory there standing for every file
   under it, so the list stays short when the archive holds a million PDFs) goes into the hidden
   release directory ``OUTPUT/.ccm-release-JOB/`` — a rename when the work directory shares the
   output directory's file system, else a copy to a temporary name there, fsync, rename, and only
   then the staged copy is removed; a staged directory is renamed whole (each of its files' places
   checked first), or moved file by file across file systems or after an attempt that began so;
   the reports are written there too;
2. *decide*: the commit record (the files to publish, the exit code) is written and fsynced;
3. *publish*: each file is renamed from the release directory to its place, the reports last (a
   directory whole when the output directory has none of that name yet, else its files one by one,
   as they are read: a restart publishes what is left of it);
4. *clean up*: the release directory, then the work directory (only a directory carrying the run
   marker the engine wrote), and the commit record last of all.

Before step 2 nothing is released (a restart redoes the transfer; a file already moved is found in
the release directory). From step 2 on the run is released: a kill at any instant leaves the record,
and the next ``--restart`` (or fresh run) completes steps 3–4 from it. Every step is idempotent.
``CCM_FAULT=commit:N`` kills the run at the N-th step (see :mod:`ccm_batch.run.faults`).
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError, OutputError
from .faults import checkpoint

RUN_MARKER = ".ccm-run"                   # written first into every work directory the engine creates
LEGACY_MARKER = "fingerprint.json"        # work directories of earlier versions carry this one
MANIFEST = "manifest.json"
REPORTS = ("report.json", "report.txt")


def record_path(output_dir: Path, job: str) -> Path:
    return output_dir / f".ccm-commit-{job}.json"


def release_dir(output_dir: Path, job: str) -> Path:
    return output_dir / f".ccm-release-{job}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durable(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    _discard(tmp)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    checkpoint("commit")           # a kill here leaves a .part behind
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _discard(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class Landing:
    """Where the files of one release into ``directory`` land. ``landing(path)`` is true when file
    ``path`` lands inside ``directory``: its parent, symbolic links followed, is in it (the file itself
    may be a link left there: a rename replaces the link, never its target). The directory and each
    parent are resolved (and made, :meth:`make_parent`) once per release, not once per file: an archive
    of 10,000 documents shares one parent, and resolving it for each file was most of the release's
    time. Parents are remembered by their path as written."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.root = Path(os.path.realpath(directory))
        self._parents: dict[str, bool] = {}
        self._made: set[str] = set()

    def __call__(self, path: Path) -> bool:
        parent = os.path.dirname(path)
        found = self._parents.get(parent)
        if found is None:
            found = self._parents[parent] = Path(os.path.realpath(parent)).is_relative_to(self.root)
        return found and path.name not in ("", ".", "..")

    def make_parent(self, path: Path) -> None:
        """``path``'s parent directory made (with its own parents) if it was not made already."""
        parent = os.path.dirname(path)
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)

    def sync(self) -> None:
        """fsync the directory and every parent directory files were moved into (their entries)."""
        for d in sorted(self._made | {os.fspath(self.directory)}):
            fsync_dir(Path(d))


# -- the run's own directories ---------------------------------------------------------------

def make_owned_dir(path: Path, job: str) -> None:
    """Create ``path`` (it must not exist) and its run marker, the proof that the engine made it."""
    path.mkdir(parents=True)
    (path / RUN_MARKER).write_text(json.dumps({"made_by": "ccm-batch", "job": job}) + "\n")


def owned(path: Path) -> bool:
    return (path / RUN_MARKER).is_file() or (path / LEGACY_MARKER).is_file()


def remove_owned_dir(path: Path, step=lambda: None) -> None:
    """Delete a directory the engine made (refused without its marker); the marker goes last, so a
    deletion cut short can be finished by the next run."""
    if not path.exists():
        return
    if not path.is_symlink() and path.is_dir() and not any(path.iterdir()):
        path.rmdir()               # emptied, marker included, by a deletion cut short just before
        return
    if path.is_symlink() or not owned(path):
        raise ConfigError(f"{path} exists but was not made by ccm-batch (no {RUN_MARKER} marker): "
                          "it is left alone. Choose another work_dir, or remove it yourself.")
    first = True
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            if Path(root) == path and name in (RUN_MARKER, LEGACY_MARKER):
                continue
            os.unlink(os.path.join(root, name))
            if first:
                step()             # a kill here leaves a half-deleted work directory behind
                first = False
        for name in dirs:
            full = os.path.join(root, name)
            if os.path.islink(full):
                os.unlink(full)
            else:
                os.rmdir(full)
    for name in (LEGACY_MARKER, RUN_MARKER):
        try:
            os.unlink(path / name)
        except FileNotFoundError:
            pass
    path.rmdir()


# -- steps 1 and 2 -------------------------------------------------------------------------------

def staged_manifest(run_dir: Path, staging: Path) -> list[str]:
    """The staged outputs to release, fixed at the first attempt (a restart finds the same list): each
    file at the top of the staging directory by its name, each directory there as ``name/``, standing
    for every file under it. Directories hold the outputs that come one per document (the archive's
    PDFs, e-invoices): their number grows with the run, the manifest's and the commit record's do not,
    and their files are moved as they are listed (:func:`files_under`), never listed in memory."""
    path = run_dir / MANIFEST
    if not path.exists():
        staged = []
        with os.scandir(staging) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    staged.append(entry.name + "/")
                elif entry.is_file():
                    staged.append(entry.name)
        _write_durable(path, json.dumps(sorted(staged)).encode())
    return json.loads(path.read_text())


def files_under(root: Path, rel: str) -> Iterator[str]:
    """The path (relative to ``root``) of every file under directory ``root / rel``, streamed: a
    directory's entries are read as they are used, so a directory of a million files is never held in
    memory (only the names of subdirectories are). Files may be moved away while this runs; callers
    go over the directory again until a pass finds nothing (:func:`_drain`)."""
    for path, _entry in _entries_under(root, rel):
        yield path


def _entries_under(root: Path, rel: str, each_directory=lambda path: None) -> Iterator[tuple[str, os.DirEntry]]:
    """(path relative to ``root``, its ``scandir`` entry) of every file under ``root / rel``, as
    :func:`files_under` says; ``each_directory(path)`` is called before each directory is read."""
    stack = [rel.rstrip("/")]
    while stack:
        directory = stack.pop()
        each_directory(directory)
        subdirectories = []
        try:
            entries = os.scandir(root / directory)
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    subdirectories.append(f"{directory}/{entry.name}")
                else:
                    yield f"{directory}/{entry.name}", entry
        stack.extend(sorted(subdirectories, reverse=True))


def _drain(root: Path, rel: str, move) -> None:
    """``move(path)`` for every file under ``root / rel`` until none is left (a directory read while its
    entries are renamed away may skip some: another pass takes them)."""
    while True:
        moved = 0
        for path in files_under(root, rel):
            move(path)
            moved += 1
        if not moved:
            return


def _tree_size(root: Path, rel: str, each_directory=lambda path: None) -> tuple[int, int]:
    """(files, bytes) under directory ``root / rel`` (none when it is missing); ``each_directory(path)``
    is called for it and every directory under it (paths relative to ``root``)."""
    count = size = 0
    for _path, entry in _entries_under(root, rel, each_directory):
        count += 1
        size += entry.stat().st_size
    return count, size


def _transfer(src: Path, dest: Path, landing: Landing) -> None:
    """Move ``src`` to ``dest`` durably, across file systems if need be."""
    landing.make_parent(dest)
    try:
        os.replace(src, dest)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = dest.with_name(dest.name + ".part")
    _discard(tmp)
    with open(src, "rb") as fin, \
            os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
        fout.flush()
        os.fsync(fout.fileno())
    checkpoint("commit")
    os.replace(tmp, dest)
    fsync_dir(dest.parent)
    os.unlink(src)


def _move_whole(staging: Path, pending: Path, rel: str, check, landing: Landing) -> tuple[int, int] | None:
    """Staged directory ``rel`` into the release directory with one rename, after checking where each of
    its files will land (``check``, which raises): (its files, their bytes). None when it must go file by
    file: the release directory has it already (an attempt cut short moved part of it), or it is on
    another file system. A million archived PDFs took ≈ 65 µs each to move one by one."""
    src, dest = staging / rel.rstrip("/"), pending / rel.rstrip("/")
    if os.path.lexists(dest) or os.path.islink(src):
        return None
    # every directory's place checked once (Landing resolves parents): a file there adds only its name
    count, size = _tree_size(staging, rel, lambda directory: check(f"{directory}/_"))
    if not count:                      # nothing in it to release (as file by file: no empty directory)
        return 0, 0
    landing.make_parent(dest)
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        return None
    checkpoint("commit")
    return count, size


def transfer(files: list[str], staging: Path, pending: Path) -> list[dict]:
    """Step 1: every staged output into the release directory; returns ``[{path, size}]``, and for a
    directory ``{path: "name/", files, size}`` (its files and their bytes)."""
    if not pending.exists():
        make_owned_dir(pending, pending.name)
    out = []
    landing, final = Landing(pending), Landing(pending.parent)

    def check(rel: str) -> None:
        if not (landing(pending / rel) and final(pending.parent / rel)):
            raise OutputError(f"staged file {rel!r} would land outside the output directory "
                              f"{pending.parent} (a symbolic link there?): nothing was released")

    def move(rel: str) -> None:
        check(rel)
        _transfer(staging / rel, pending / rel, landing)
        checkpoint("commit")

    for rel in files:
        if rel.endswith("/"):
            if not (staging / rel).is_dir() and not (pending / rel).is_dir():
                raise OutputError(f"staged directory {staging / rel} is missing: run again without --restart")
            counted = _move_whole(staging, pending, rel, check, landing)
            if counted is None:
                _drain(staging, rel, move)
                counted = _tree_size(pending, rel)
            count, size = counted
            if count:
                out.append({"path": rel, "files": count, "size": size})
            continue
        if (staging / rel).exists():
            move(rel)
        else:                          # moved by an earlier attempt, or lost
            check(rel)
            if not (pending / rel).exists():
                raise OutputError(f"staged output {staging / rel} is missing: run again without --restart")
        out.append({"path": rel, "size": (pending / rel).stat().st_size})
    landing.sync()
    return out


def write_reports(pending: Path, report) -> None:
    for name, text in zip(REPORTS, (json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n",
                                    report.to_text())):
        _write_durable(pending / name, text.encode("utf-8"))


def decide(output_dir: Path, job: str, files: list[str], run_dir: Path, exit_code: int) -> dict:
    """Step 2: the commit record; from now on the run is released."""
    record = {"job": job, "files": [*files, *REPORTS], "run_dir": str(run_dir), "exit_code": exit_code}
    checkpoint("commit")
    _write_durable(record_path(output_dir, job), json.dumps(record, indent=1).encode())
    checkpoint("commit")
    return record


# -- steps 3 and 4 -------------------------------------------------------------------------------

def complete(output_dir: Path, job: str) -> dict | None:
    """Finish a decided release from its record (publish, clean up); None when there is no record."""
    path = record_path(output_dir, job)
    _discard(path.with_name(path.name + ".part"))      # a record cut short while being written
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    pending = release_dir(output_dir, job)
    landing = Landing(output_dir)

    def publish(rel: str) -> None:
        dest = output_dir / rel
        if not landing(dest):
            raise OutputError(f"commit record {path} names {rel!r}, outside the output directory")
        landing.make_parent(dest)
        os.replace(pending / rel, dest)
        checkpoint("commit")

    for rel in record["files"]:
        if rel.endswith("/"):          # a directory: what is left of it in the release directory
            dest = output_dir / rel.rstrip("/")
            if not landing(dest):      # refused before its files are even listed
                raise OutputError(f"commit record {path} names {rel!r}, outside the output directory")
            moved = pending / rel.rstrip("/")
            if os.path.lexists(dest) or os.path.islink(moved) or not os.path.isdir(moved):
                _drain(pending, rel, publish)          # into the directory there (or nothing left to move)
            else:                                      # none there yet: the whole directory, one rename
                landing.make_parent(dest)
                os.replace(moved, dest)
                checkpoint("commit")
        elif (pending / rel).exists():
            publish(rel)
        elif not (output_dir / rel).exists():
            raise OutputError(f"{rel} is neither in {pending} nor in {output_dir}: the release cannot be "
                              "completed; run the job again without --restart")
    landing.sync()
    remove_owned_dir(pending)
    checkpoint("commit")
    run_dir = Path(record["run_dir"])
    if run_dir.exists():
        remove_owned_dir(run_dir, step=lambda: checkpoint("commit"))
    checkpoint("commit")
    path.unlink()
    fsync_dir(output_dir)
    return record
