"""Mail stage, presort: the generic configurable algorithm of postal.md §1.7 over SQLite.

One *mailing* = the pieces of one domestic stream (same pack, shape and envelope). If it is below the
pack's ``mailing_min`` (and not a local deposit meeting ``local_min``), every piece pays the single-piece
price (level ``SINGLE``). Otherwise, levels are prepared finest first, one at a time:

- the level key groups the remaining pieces; a group with at least ``min_pieces`` pieces (the minimum
  may depend on the heaviest piece's weight) is cut, in in-tray order, into containers of the biggest
  size (pieces stand side by side: a container holds pieces up to its inside length);
- a group that makes one container keeps it (the smallest size the mail fits in: a 1-ft tray only when
  all the mail for that destination fits in 1 ft); in a group of several containers, a last container
  less than ``full_ratio`` full is an *overflow* container, handled by the overflow policy:
  ``overflow`` keeps it at this level (smallest fitting size), ``rollup`` carries its pieces to the next
  level where they keep this level's price if they land in a qualifying group there (placed at the
  front of that container, grouped by destination), ``none`` carries them down at the next level's price;
- groups below the minimum stay for the next level; the last (residual, ``const``) level takes the rest.

The overflow policy: the ``policy`` option for the whole mailing, or with ``cheapest`` every policy of
the pack's ``policies`` is tried and the one with the lowest cost (postage + containers ×
``handling_per_container``) kept (ties: the pack's order); then the choice is refined where that is
cheaper — per level (each level's allowed options tried in turn, the others fixed, until no change)
and per group (each group that has an overflow container tries the level's other options; at most
``GROUP_TRIALS`` trials, fewer for large mailings: ``TRIAL_PIECES`` pieces presorted in all). The stream's ``policy`` then reads e.g. ``5D:rollup AADC:none +2 group(s)``
and its ``costs`` record the single-policy costs, the chosen cost and the ``saving``. A level that does
not allow an option uses its first allowed one.

A shape with ``automation_routing_digits`` (USPS: 11) prices a piece whose routing code (the normalised
postcode: ZIP + ZIP4 + delivery point) has another length at its ``nonautomation_rate`` (single-piece
when empty), whatever its level: automation prices need the delivery-point barcode. Such pieces still
travel in the level's containers.

Containers are numbered in preparation order (level, key, container); pieces get sequence numbers in
print order: container, rolled-up pieces first, then the in-tray sort key (postcode + normalised
street). Bundles (``bundle_key``/``bundle_max_pieces``) break inside a container on a key change or when
full.

The working table (``mail_ps``) is copied from ``mail_piece`` and the per-piece facts the householding
pass worked out (``mail_psk``: level keys, rate step, near-step flags, automation). Trials (:mod:`.trial`)
run on compact arrays prepared once per mailing and process (each piece's rank in
tray order, its kind, its group per level: about 35 bytes a piece with three levels), not in SQL; a
per-group trial is computed from the trial of the same level modes by preparing again only the groups
its change reaches (and the residual level), so the search costs about the same per piece whatever the
size of the mailing. The search itself — which trials, in which order, what is kept — is unchanged.
The chosen trial is written to the working table; the rest (sequence numbers, trays, bundles) is SQL.
With workers (a pool), the run's process never prepares a presorted mailing: the trials run in the
workers (:func:`presort_trial`), and so does writing the chosen one (:func:`presort_chosen`, into a
file beside the work database that the run's process attaches for the SQL that numbers the pieces).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..log import counted
from ..run.faults import checkpoint
from .partition import connect, remove_files
from .rules import RulePack, ShapeRules
from .trial import Trials

BATCH = 2000
GROUP_TRIALS = 64      # per-group overflow choices tried per mailing (each is one presort trial) ...
TRIAL_PIECES = 4_000_000   # ... and at most this many pieces presorted by them (large mailings try fewer)

WORK_DDL = """CREATE TEMP TABLE mail_ps (
  piece_no INTEGER PRIMARY KEY, {keys}, pc TEXT, thick REAL, weight REAL, sort_key TEXT, step_idx INTEGER,
  near_rate INTEGER, near_single INTEGER, single REAL, state INTEGER DEFAULT 0, li INTEGER, rate TEXT,
  rolled_rate TEXT, rolled_li INTEGER, grp TEXT, tray INTEGER, auto INTEGER)"""


def _trial_key(policy, groups: dict | None = None) -> tuple:
    """A trial's identity: its policy (a name, or per-level modes) and per-group exceptions."""
    return (policy if isinstance(policy, str) else tuple(sorted(policy.items())),
            tuple(sorted((groups or {}).items())))


_PREPARED: dict = {}


def presort_trial(spec: dict, policy, groups: dict | None) -> tuple[float, list]:
    """Worker task: one presort trial of the mailing ``spec`` names (work database path, stream, rule
    pack and shape, rule directories, job date, plan token): ``(cost, overflow groups)``, as
    :meth:`Mailing._trial` gives them in the run's process. The worker prepares the mailing's working
    table once (its own connection and temporary tables, read from the committed ``mail_piece`` rows)
    and keeps it for the plan's next trials of the same mailing."""
    mailing = _prepared(spec)
    cost = mailing._trial(policy, groups)
    mailing.db.commit()                # temporary tables only: nothing written to the work database
    checkpoint("plan")
    return cost, list(mailing.overflow_groups)


def _prepared(spec: dict) -> "Mailing":
    """The mailing ``spec`` names, its working table prepared in this process (once per plan)."""
    from .rules import task_rulebook
    key = (spec["token"], spec["stream"])
    if _PREPARED.get("key") != key:
        release_prepared()
        pack = task_rulebook(spec).packs[spec["pack"]]
        mailing = Mailing(connect(spec["db"]), spec["stream"], pack, pack.shapes[spec["shape"]])
        mailing.count = mailing._prepare()
        mailing.db.commit()            # no transaction (and no lock on the work database) left open
        _PREPARED.update(key=key, mailing=mailing)
    return _PREPARED["mailing"]


FINISHED_TABLES = ("mail_fin", "mail_bnd", "mail_trayrow")   # what :meth:`Mailing._apply_finish` reads
TRAY_COLUMNS = ("stream TEXT, tray_no INTEGER, level TEXT, dest TEXT, size TEXT, overflow INTEGER, pieces INTEGER, "
                "length_mm REAL, label TEXT, first_seq INTEGER, last_seq INTEGER")     # mail_tray's


def presort_chosen(spec: dict, policy, groups: dict | None, out_path: str) -> int:
    """Worker task: write the chosen trial of the mailing ``spec`` names (:meth:`Mailing._write`), finish
    it (:meth:`Mailing._finish_rows`: containers, print order, bundles) and copy the result
    (:data:`FINISHED_TABLES`) into the new SQLite file ``out_path``, which the run's process applies to
    the plan (:meth:`Mailing._apply_finish`). Returns the mailing's pieces. The mailing this worker
    kept is released: its working table now holds the written trial."""
    mailing = _prepared(spec)
    try:
        remove_files([out_path])                    # a task run again after its worker died
        mailing._write(policy, groups)
        mailing._finish_rows()
        db = mailing.db
        db.commit()
        db.execute("ATTACH DATABASE ? AS chosen", (out_path,))
        try:
            for table in FINISHED_TABLES:
                ddl = db.execute("SELECT sql FROM sqlite_temp_master WHERE type = 'table' AND name = ?",
                                 (table,)).fetchone()[0]
                db.execute(ddl.replace("CREATE TABLE ", "CREATE TABLE chosen.", 1))
                db.execute(f"INSERT INTO chosen.{table} SELECT * FROM temp.{table} ORDER BY rowid")
            db.commit()
        finally:
            db.execute("DETACH DATABASE chosen")
        checkpoint("presort")              # tests: a worker killed with the mailing's file written
        return mailing.count
    finally:
        release_prepared()


def release_prepared() -> None:
    """Close the mailing a worker keeps between trials (its connection to the work database): called on
    every Dask worker when the plan ends, so no worker holds the work database of a finished run."""
    old = _PREPARED.pop("mailing", None)
    _PREPARED.pop("key", None)
    if old is not None:
        old.db.close()


def _reset_temp(db) -> None:
    for name in ("mail_ps", "mail_rate", "mail_ord", "mail_fin", "mail_bnd", "mail_trayrow"):
        db.execute(f"DROP TABLE IF EXISTS temp.{name}")


class Mailing:
    """The presort of one stream; :meth:`run` writes levels, trays, sequence numbers and prices."""

    def __init__(self, db, stream: str, pack: RulePack, shape: ShapeRules, pool=None, spec: dict | None = None):
        self.db, self.stream, self.pack, self.shape = db, stream, pack, shape
        self.levels = shape.levels
        self.costs: dict = {}
        self.count = 0
        self.pool, self.spec = pool, spec         # trials in the workers: see :func:`presort_trial`
        self._memo: dict = {}                     # trial key -> (cost, overflow groups)
        self.trials: Trials | None = None         # the trial engine, prepared on first use

    # ------------------------------------------------------------------ preparation
    def _prepare(self) -> int:
        """The mailing's working table ``mail_ps``: its pieces with the facts the householding pass worked
        out for them (``mail_psk``: keys per level, rate step, near-step flags, automation), one SQL copy."""
        db, shape = self.db, self.shape
        _reset_temp(db)
        ncols = max(1, len(self.levels))
        keys = ", ".join(f"k{i}" for i in range(ncols))
        db.execute(WORK_DDL.format(keys=", ".join(f"k{i} TEXT" for i in range(ncols))))
        count = db.execute(
            f"INSERT INTO mail_ps (piece_no, {keys}, pc, thick, weight, sort_key, step_idx, near_rate, near_single, "
            f"single, auto) SELECT p.piece_no, {', '.join(f'f.k{i}' for i in range(ncols))}, p.pc, p.thickness_mm, "
            "p.weight_g, p.sort_key, f.step_idx, f.near_rate, f.near_single, p.single_price, f.auto "
            "FROM mail_piece AS p JOIN mail_psk AS f ON f.piece_no = p.piece_no WHERE p.stream = ? "
            "ORDER BY p.piece_no", (self.stream,)).rowcount
        db.execute("CREATE TEMP TABLE mail_rate (rate TEXT, step_idx INTEGER, price REAL, "
                   "PRIMARY KEY (rate, step_idx))")
        if shape.rates:
            db.executemany("INSERT INTO mail_rate VALUES (?,?,?)",
                           [(lv, i, p) for lv, row in shape.rates.prices.items() for i, p in enumerate(row)])
        return count

    def _qualifies(self, count: int) -> tuple[bool, str]:
        shape = self.shape
        if not shape.presorted:
            return False, f"no presort levels for {shape.name} in {self.pack.id}: single-piece prices"
        if count >= shape.mailing_min:
            return True, ""
        if shape.local_min and count >= shape.local_min[0]:
            local_key = shape.local_min[1]
            keys = {local_key(pc) for (pc,) in self.db.execute("SELECT DISTINCT pc FROM mail_piece WHERE stream = ?",
                                                                (self.stream,))}
            if len(keys) == 1 and None not in keys:
                return True, f"local deposit ({local_key.text} {keys.pop()}) ≥ {shape.local_min[0]} pieces"
        return False, (f"{counted(count, 'piece')} below the mailing minimum of {shape.mailing_min}: "
                       "single-piece prices")

    # ------------------------------------------------------------------ one trial
    def _container_size(self, length: float) -> str:
        fitting = [c for c in self.shape.containers if length <= c.length_mm + 1e-9]
        return (fitting[-1] if fitting else self.shape.containers[0]).name

    def _mode(self, li: int, policy) -> str:
        """The overflow mode of level ``li`` under ``policy`` (a policy name, or a per-level dict)."""
        level = self.levels[li]
        want = policy.get(li, level.overflow[0]) if isinstance(policy, dict) else policy
        return want if want in level.overflow else level.overflow[0]

    def _modes(self, policy, groups: dict | None) -> tuple[tuple, dict]:
        """The mode of every level under ``policy`` and the valid per-group exceptions of ``groups``."""
        modes = tuple(self._mode(li, policy) for li in range(len(self.levels)))
        valid = {}
        for (li, key), mode in (groups or {}).items():
            valid[(li, key)] = mode if mode in self.levels[li].overflow else modes[li]
        return modes, valid

    def _engine(self) -> Trials:
        if self.trials is None:
            rates = self.shape.rates.prices.items() if self.shape.rates else ()
            self.trials = Trials(self.db, self.levels, self.shape, self.pack.handling_per_container,
                                 {(lv, i): p for lv, row in rates for i, p in enumerate(row)})
        return self.trials

    def _trial(self, policy, groups: dict | None = None) -> float:
        """Prepare every level with ``policy`` (one name, or {level index: mode}) and the per-group
        exceptions ``groups`` ({(level index, key): mode}); returns the plan's cost. The groups whose
        last container was an overflow container are left in ``self.overflow_groups`` (see
        :mod:`.trial`)."""
        cost, self.overflow_groups = self._engine().trial(*self._modes(policy, groups))
        return cost

    def _write(self, policy, groups: dict | None = None) -> None:
        """Prepare every level with the chosen policy and write the result in print order. The engine
        hands the containers over in preparation order (level, key, index: the containers' numbering)
        and each container's pieces rolled-up first, then in tray order (the print order), so containers
        and pieces are numbered as they come: ``mail_ord`` (sequence number, piece, level, group,
        container, rate, rolled up) and the containers' rows (``mail_trayrow``), with no sort."""
        db, shape, stream = self.db, self.shape, self.stream
        db.execute("CREATE TEMP TABLE mail_ord (seq INTEGER PRIMARY KEY, piece_no INTEGER, li INTEGER, grp TEXT, "
                   "tray_no INTEGER, rate TEXT, rolled INTEGER)")
        db.execute(f"CREATE TEMP TABLE mail_trayrow ({TRAY_COLUMNS})")
        engine = self._engine()
        modes, valid = self._modes(policy, groups)
        exc = {(li, engine.kmap[li][key]): mode for (li, key), mode in valid.items()
               if li < engine.last and key in engine.kmap[li]}
        pieces, trays = [], []
        seq = tray_no = 0

        def record(li, key, idx, rows, fill, last):
            nonlocal seq, tray_no
            tray_no += 1
            first = seq + 1
            for piece_no, rate, rolled in rows:
                seq += 1
                pieces.append((seq, piece_no, li, key, tray_no, rate, int(rolled)))
            level = self.levels[li]
            size, overflow = shape.containers[0].name, 0
            if last:
                size, overflow = self._container_size(fill), int(idx > 0 and fill < shape.full_ratio * engine.cap)
            label = level.label if level.key.kind == "const" else f"{level.label} {key}"
            trays.append((stream, tray_no, level.name, key, size, overflow, len(rows), round(fill, 3), label,
                          first, seq))
            if len(pieces) >= BATCH:
                flush()

        def flush():
            db.executemany("INSERT INTO mail_ord VALUES (?,?,?,?,?,?,?)", pieces)
            pieces.clear()
        engine.full(modes, exc, record)
        flush()
        if seq != self.count:
            raise RuntimeError(f"presort of {stream}: {seq} of its {self.count} pieces placed")
        db.executemany("INSERT INTO mail_trayrow VALUES (?,?,?,?,?,?,?,?,?,?,?)", trays)

    # ------------------------------------------------------------------ run + write back
    def run(self, policy: str = "cheapest", pieces: int | None = None) -> dict:
        """Presort the stream (of ``pieces`` pieces, when the caller has counted them); returns ``{kind,
        policy, note, costs}`` for the stream table."""
        if self.pool is None:
            count = self._prepare()
        elif pieces is None:   # the workers prepare the mailing for its trials: only its size is needed here
            count = self.db.execute("SELECT COUNT(*) FROM mail_piece WHERE stream = ?", (self.stream,)).fetchone()[0]
        else:
            count = pieces
        self.count = count
        ok, note = self._qualifies(count)
        if not ok:
            if self.pool is not None:
                self._prepare()
            self._finish_single()
            _reset_temp(self.db)
            return {"kind": "single", "policy": "", "note": note, "costs": {}}
        trials = list(self.pack.policies) if policy == "cheapest" else [policy]
        self._evaluate([(p, None) for p in trials], all_of=True)      # independent: one batch
        for p in trials:
            self.costs[p] = self._cost(p)
        best = min(trials, key=lambda p: (self.costs[p], trials.index(p)))
        costs = dict(self.costs)
        label, final = best, (best, None)
        if policy == "cheapest":
            levels, groups, cost = self._refine(best)
            saving = round(self.costs[best] - cost, 6)
            if saving > 1e-9:
                label = " ".join(f"{self.levels[li].name}:{m}" for li, m in sorted(levels.items())) + \
                    (f" +{len(groups)} group(s)" if groups else "")
                costs.update({"chosen": cost, "saving": saving, "per_level": {
                    self.levels[li].name: m for li, m in sorted(levels.items())}, "per_group": {
                    f"{self.levels[li].name}:{key}": m for (li, key), m in sorted(groups.items())}})
                final = (levels, groups)
        if self.pool is None:
            self._write(*final)
            self._finish_rows()
            self._apply_finish()
        else:
            self._finish_from_worker(*final)
        _reset_temp(self.db)
        return {"kind": "presort", "policy": label, "note": note, "costs": costs}

    def _finish_from_worker(self, policy, groups: dict | None) -> None:
        """The chosen trial written and finished by a worker (:func:`presort_chosen`), applied here from its
        file (attached: the same tables as :meth:`_finish_rows` leaves in this process)."""
        db = self.db
        name = hashlib.sha1(self.stream.encode()).hexdigest()[:12]
        path = str(Path(self.spec["db"]).parent / f"plan-presort-{name}.db")
        try:
            self.pool.map(presort_chosen, [(self.spec, policy, groups, path)])
            db.commit()                                     # ATTACH needs no open transaction
            db.execute("ATTACH DATABASE ? AS chosen", (path,))
            # the plan's page cache (:func:`.plan.plan_cache`) for the attached file too
            db.execute(f"PRAGMA chosen.cache_size = {int(db.execute('PRAGMA main.cache_size').fetchone()[0])}")
            try:
                self._apply_finish()
            finally:
                db.commit()
                db.execute("DETACH DATABASE chosen")
        finally:
            remove_files([path])

    # ------------------------------------------------------------------ trials, here or in the workers
    def _cost(self, policy, groups: dict | None = None, ahead=None) -> float:
        """The cost of one trial (its overflow groups left in ``self.overflow_groups``). Trials are pure
        functions of (policy, groups), so each is computed once; with a pool, a missing one is computed
        in the workers together with ``ahead()``, the trials the search will ask for next if this one
        brings no saving (speculation: a saving makes them stale, never wrong)."""
        key = _trial_key(policy, groups)
        if key not in self._memo:
            self._evaluate([(policy, groups)] + (list(ahead()) if ahead and self.pool else []))
        cost, self.overflow_groups = self._memo[key]
        return cost

    def _evaluate(self, trials: list, all_of: bool = False) -> None:
        """Compute the trials not yet known: in this process without a pool (the first one only, unless
        ``all_of``), else as one batch of tasks of at most 2 × the pool's width."""
        todo = list({_trial_key(p, g): (p, g) for p, g in trials if _trial_key(p, g) not in self._memo}.items())
        if not todo:
            return
        if self.pool is None:
            for key, (p, g) in (todo if all_of else todo[:1]):
                cost = self._trial(p, g)
                self._memo[key] = (cost, list(self.overflow_groups))
            return
        if not all_of:
            todo = todo[:max(1, 2 * self.pool.width)]
        results = self.pool.map(presort_trial, [(self.spec, p, g) for _, (p, g) in todo])
        for (key, _), result in zip(todo, results):
            self._memo[key] = result

    def _refine(self, best: str) -> tuple[dict, dict, float]:
        """Cheaper choices than one policy for the whole mailing: the overflow mode per level
        (coordinate descent, from the best single policy), then per group for the groups that have an
        overflow container (at most :data:`GROUP_TRIALS` trials, in preparation order). Returns the
        per-level modes, the per-group exceptions and the cost."""
        levels = {li: self._mode(li, best) for li in range(len(self.levels) - 1)}
        cost = self.costs[best]
        changed = True
        while changed:
            changed = False
            order = [(li, mode) for li in sorted(levels) for mode in self.levels[li].overflow]
            for i, (li, mode) in enumerate(order):
                if mode == levels[li]:
                    continue
                c = self._cost({**levels, li: mode}, None, lambda: [
                    ({**levels, l2: m2}, None) for l2, m2 in order[i + 1:] if m2 != levels[l2]])
                if c < cost - 1e-9:
                    levels, cost, changed = {**levels, li: mode}, c, True
        self._cost(levels)
        candidates = list(dict.fromkeys(self.overflow_groups))
        groups: dict = {}
        budget = min(GROUP_TRIALS, TRIAL_PIECES // max(1, self.count))
        flat = [(li, key, mode) for li, key in candidates for mode in self.levels[li].overflow]

        def ahead(after: int, left: int) -> list:
            out = []
            for li, key, mode in flat[after:]:
                if mode == groups.get((li, key), levels[li]) or left <= 0:
                    continue
                left -= 1
                out.append((levels, {**groups, (li, key): mode}))
            return out
        for i, (li, key, mode) in enumerate(flat):
            if mode == groups.get((li, key), levels[li]) or budget <= 0:
                continue
            budget -= 1
            trial = {**groups, (li, key): mode}
            c = self._cost(levels, trial, lambda: ahead(i + 1, budget))
            if c < cost - 1e-9:
                groups, cost = trial, c
        return levels, groups, cost

    def _finish_single(self) -> None:
        self.db.execute(
            "UPDATE mail_piece SET level = 'SINGLE', rate_level = 'SINGLE', price = single_price, "
            "near_step = (SELECT near_single FROM mail_ps w WHERE w.piece_no = mail_piece.piece_no) "
            "WHERE stream = ?", (self.stream,))
        assign_sequence(self.db, self.stream)

    def _finish_rows(self) -> None:
        """The written trial (:meth:`_write`) with each piece's price and near-step flag, into the
        temporary tables :data:`FINISHED_TABLES` reads: ``mail_fin`` (level, rate, price, container and
        print-order number of each piece, keyed by piece) and the bundles (``mail_bnd``)."""
        db = self.db
        names = " ".join(f"WHEN {i} THEN ?" for i in range(len(self.levels)))
        # no declared types: the values reach mail_piece exactly as an UPDATE from mail_ps would give them
        db.execute("CREATE TEMP TABLE mail_fin (piece_no INTEGER PRIMARY KEY, level, rate_level, dest, tray_no, "
                   "rolled, price, near_step, seq, li, pc)")
        db.execute(
            f"INSERT INTO mail_fin SELECT a.piece_no, CASE a.li {names} END, a.rate, a.grp, a.tray_no, a.rolled, "
            "COALESCE(r.price, w.single), CASE WHEN r.price IS NULL THEN w.near_single ELSE w.near_rate END, "
            "a.seq, a.li, w.pc FROM mail_ord AS a JOIN mail_ps AS w ON w.piece_no = a.piece_no "
            "LEFT JOIN mail_rate AS r ON r.rate = a.rate AND r.step_idx = w.step_idx ORDER BY a.seq",
            [lv.name for lv in self.levels])
        self._bundles()

    def _bundles(self) -> None:
        """Bundle numbers, in print order, into ``mail_bnd`` (pieces of levels without bundles have none)."""
        db = self.db
        db.execute("CREATE TEMP TABLE mail_bnd (piece_no INTEGER PRIMARY KEY, bundle INTEGER)")
        if not any(level.bundle_key or level.bundle_max for level in self.levels):
            return
        updates, bundle, last_tray, last_key, count = [], 0, None, None, 0
        for piece_no, tray, li, pc in db.execute("SELECT a.piece_no, a.tray_no, a.li, w.pc FROM mail_ord AS a "
                                                 "JOIN mail_ps AS w ON w.piece_no = a.piece_no ORDER BY a.seq"):
            level = self.levels[li]
            if not level.bundle_key and not level.bundle_max:
                continue
            key = level.bundle_key(pc) if level.bundle_key else None
            if tray != last_tray or key != last_key or (level.bundle_max and count >= level.bundle_max):
                bundle += 1
                count = 0
            last_tray, last_key = tray, key
            count += 1
            updates.append((piece_no, bundle))
            if len(updates) >= BATCH:
                db.executemany("INSERT INTO mail_bnd VALUES (?, ?)", updates)
                updates.clear()
        db.executemany("INSERT INTO mail_bnd VALUES (?, ?)", updates)

    def _apply_finish(self) -> None:
        """The finished rows (:meth:`_finish_rows`, here or in a worker's file) into the plan: one UPDATE of
        the stream's pieces joined in piece order (updating a large ``mail_piece`` in print order would
        read its pages at random), the containers' rows."""
        self.db.execute(
            "UPDATE mail_piece SET level = f.level, rate_level = f.rate_level, dest = f.dest, tray_no = f.tray_no, "
            "rolled = f.rolled, price = f.price, near_step = f.near_step, seq = f.seq, bundle_no = f.bundle "
            "FROM (SELECT f.*, b.bundle FROM mail_fin f LEFT JOIN mail_bnd b ON b.piece_no = f.piece_no "
            "ORDER BY f.piece_no) f WHERE mail_piece.piece_no = f.piece_no")
        self.db.execute("INSERT INTO mail_tray SELECT * FROM mail_trayrow ORDER BY tray_no")


def assign_sequence(db, stream: str, order: str = "sort_key, piece_no") -> None:
    """Sequence numbers for a stream without containers, in ``order``."""
    db.execute(f"UPDATE mail_piece SET seq = s.rn FROM (SELECT piece_no, ROW_NUMBER() OVER (ORDER BY {order}) "
               "AS rn FROM mail_piece WHERE stream = ?) s WHERE mail_piece.piece_no = s.piece_no", (stream,))
