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
run on compact arrays prepared once per mailing (each piece's rank in tray order, its kind, its
postcode's number, sheets and documents, its group per level: about 47 bytes a piece with three
levels), not in SQL; a per-group trial is computed from the trial of the same level modes by preparing
again only the groups its change reaches (and the residual level), so the search costs about the same
per piece whatever the size of the mailing. The search itself — which trials, in which order, what is
kept — is unchanged.
The chosen trial is numbered as the engine hands it over (containers, pieces and bundles come in print
order), and cut into print files with its piece ids in the same pass (:mod:`.files`: each container's
pieces and sheets are known when it starts); prices are joined in SQL, in piece order, and everything is
written into ``mail_piece`` with one UPDATE.

With a pool (the run's workers), each qualified mailing is presorted by a worker task
(:func:`.partition.presort_parallel`): the task writes the finished rows to a file of its own (``out``
schema) and the run's process applies them (:func:`finish_statements`), so mailings are presorted side by
side. One mailing stays one task: its trials share the engine built from the whole mailing, and the
rounds of the search are sequential (the trials were once tasks of the workers; every worker then
built the engine, and the workers had little to run side by side: bench/RESULTS.md).
"""
from __future__ import annotations

from ..log import counted
from .files import FILE_COLUMNS, set_file_columns, sql_sum
from .partition import small_sorts
from .rules import RulePack, ShapeRules
from .trial import Trials

BATCH = 2000
GROUP_TRIALS = 64      # per-group overflow choices tried per mailing (each is one presort trial) ...
TRIAL_PIECES = 4_000_000   # ... and at most this many pieces presorted by them (large mailings try fewer)

WORK_DDL = """CREATE TEMP TABLE mail_ps (
  piece_no INTEGER PRIMARY KEY, {keys}, pc TEXT, thick REAL, weight REAL, sort_key TEXT, step_idx INTEGER,
  near_rate INTEGER, near_single INTEGER, single REAL, state INTEGER DEFAULT 0, li INTEGER, rate TEXT,
  rolled_rate TEXT, rolled_li INTEGER, grp TEXT, tray INTEGER, auto INTEGER, sheets INTEGER, documents INTEGER)"""


def _trial_key(policy, groups: dict | None = None) -> tuple:
    """A trial's identity: its policy (a name, or per-level modes) and per-group exceptions."""
    return (policy if isinstance(policy, str) else tuple(sorted(policy.items())),
            tuple(sorted((groups or {}).items())))


TRAY_COLUMNS = ("stream TEXT, tray_no INTEGER, level TEXT, dest TEXT, size TEXT, overflow INTEGER, pieces INTEGER, "
                "length_mm REAL, label TEXT, first_seq INTEGER, last_seq INTEGER")     # mail_tray's


def _reset_temp(db) -> None:
    for name in ("mail_ps", "mail_rate", "mail_ord", "mail_fin", "mail_trayrow"):
        db.execute(f"DROP TABLE IF EXISTS temp.{name}")


class Mailing:
    """The presort of one stream; :meth:`run` writes levels, trays, sequence numbers and prices."""

    def __init__(self, db, stream: str, pack: RulePack, shape: ShapeRules, out: str = "temp"):
        self.db, self.stream, self.pack, self.shape = db, stream, pack, shape
        self.out = out                            # the schema of its finished rows: mail_fin, mail_trayrow
        self.levels = shape.levels
        self.costs: dict = {}
        self.count = 0
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
            f"single, auto, sheets, documents) SELECT p.piece_no, {', '.join(f'f.k{i}' for i in range(ncols))}, p.pc, "
            "p.thickness_mm, p.weight_g, p.sort_key, f.step_idx, f.near_rate, f.near_single, p.single_price, f.auto, "
            "p.sheets, p.documents "
            "FROM mail_piece AS p JOIN mail_psk AS f ON f.piece_no = p.piece_no WHERE p.stream = ? "
            "ORDER BY p.piece_no", (self.stream,)).rowcount
        db.execute("CREATE TEMP TABLE mail_rate (rate TEXT, step_idx INTEGER, price REAL, "
                   "PRIMARY KEY (rate, step_idx))")
        if shape.rates:
            db.executemany("INSERT INTO mail_rate VALUES (?,?,?)",
                           [(lv, i, p) for lv, row in shape.rates.prices.items() for i, p in enumerate(row)])
        return count

    def qualifies(self, count: int) -> tuple[bool, str]:
        """Whether a mailing of ``count`` pieces is presorted (its minimums), and the note why not."""
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
            with small_sorts(self.db):           # it reads the whole mailing in tray order: one sort
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

    def _write(self, policy, groups: dict | None = None, files=None) -> None:
        """Prepare every level with the chosen policy and write the result in print order. The engine
        hands the containers over in preparation order (level, key, index: the containers' numbering)
        and each container's pieces rolled-up first, then in tray order (the print order), so containers,
        pieces and bundles are numbered as they come: ``mail_ord`` (sequence number, piece, level, group,
        container, rate, rolled up, bundle) and the containers' rows (``mail_trayrow``), with no sort.
        Bundles break inside a container on a change of the level's bundle key or when full; pieces of
        a level without bundles have none. With ``files`` (a :class:`.files.FileCutter`), each piece's
        id and print-file columns are worked out here too, in the same order."""
        db, shape, stream = self.db, self.shape, self.stream
        db.execute("CREATE TEMP TABLE mail_ord (seq INTEGER PRIMARY KEY, piece_no INTEGER, li INTEGER, grp TEXT, "
                   f"tray_no INTEGER, rate TEXT, rolled INTEGER, bundle INTEGER, {', '.join(FILE_COLUMNS)})")
        db.execute(f"CREATE TABLE {self.out}.mail_trayrow ({TRAY_COLUMNS})")
        engine = self._engine()
        modes, valid = self._modes(policy, groups)
        exc = {(li, engine.kmap[li][key]): mode for (li, key), mode in valid.items()
               if li < engine.last and key in engine.kmap[li]}
        pieces, trays = [], []
        seq = tray_no = bundle = 0
        no_file = (None,) * len(FILE_COLUMNS)
        # ``record`` must not hold the engine: compiled (Cython), the locals the nested functions share live in
        # one scope object that ``record`` itself is in, a cycle only the collector frees — the trial engine
        # of this mailing would outlive it, beside the next mailing's (tests/test_mail_plan.py, memory test)
        overflow_below = shape.full_ratio * engine.cap

        def record(li, key, idx, rows, fill, last):
            nonlocal seq, tray_no, bundle
            tray_no += 1
            first = seq + 1
            level = self.levels[li]
            bundle_key, bundle_max = level.bundle_key, level.bundle_max
            bundles = []
            if bundle_key or bundle_max:
                last_key, count = object(), 0             # a new container starts a new bundle
                for row in rows:
                    key_ = bundle_key(row[3]) if bundle_key else None
                    if key_ != last_key or (bundle_max and count >= bundle_max):
                        bundle += 1
                        count = 0
                    last_key = key_
                    count += 1
                    bundles.append(bundle)
            else:
                bundles = [None] * len(rows)
            if files is not None:
                tray_sheets = None
                for row in rows:
                    tray_sheets = sql_sum(tray_sheets, row[4])
                n = len(rows)
                cols = files.cut([(row[4], row[5], tray_no, n, tray_sheets, b) for row, b in zip(rows, bundles)])
            else:
                cols = [no_file] * len(rows)
            for (piece_no, rate, rolled, _pc, _sheets, _docs), b, c in zip(rows, bundles, cols):
                seq += 1
                pieces.append((seq, piece_no, li, key, tray_no, rate, int(rolled), b, *c))
            size, overflow = shape.containers[0].name, 0
            if last:
                size, overflow = self._container_size(fill), int(idx > 0 and fill < overflow_below)
            label = level.label if level.key.kind == "const" else f"{level.label} {key}"
            trays.append((stream, tray_no, level.name, key, size, overflow, len(rows), round(fill, 3), label,
                          first, seq))
            if len(pieces) >= BATCH:
                flush()

        def flush():
            db.executemany(f"INSERT INTO mail_ord VALUES ({', '.join('?' * (8 + len(FILE_COLUMNS)))})", pieces)
            pieces.clear()
        engine.full(modes, exc, record)
        flush()
        if seq != self.count:
            raise RuntimeError(f"presort of {stream}: {seq} of its {self.count} pieces placed")
        db.executemany(f"INSERT INTO {self.out}.mail_trayrow VALUES (?,?,?,?,?,?,?,?,?,?,?)", trays)
        trays.clear()

    # ------------------------------------------------------------------ run + write back
    def run(self, policy: str = "cheapest", qualified: tuple | None = None, files=None, apply: bool = True) -> dict:
        """Presort the stream; returns ``{kind, policy, note, costs}`` for the stream table. ``qualified``:
        :meth:`qualifies` of its pieces, when already known; ``files`` (a :class:`.files.FileCutter`): the
        presorted pieces are cut into print files as they are numbered (their ids and file columns are
        written with the rest). ``apply=False`` (a qualified mailing presorted by a worker, :mod:`.partition`):
        the finished rows are left in ``mail_fin`` and ``mail_trayrow`` of the ``out`` schema, for
        :func:`finish_statements` in the run's process."""
        self.count = count = self._prepare()
        ok, note = qualified if qualified is not None else self.qualifies(count)
        if not ok:
            self._finish_single()
            _reset_temp(self.db)
            return {"kind": "single", "policy": "", "note": note, "costs": {}}
        trials = list(self.pack.policies) if policy == "cheapest" else [policy]
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
        self._write(*final, files=files)
        self.trials = None          # the engine's arrays (≈ 35 bytes a piece) are not needed to finish
        self._finish_rows()
        if apply:
            for sql in finish_statements(self.out, files is not None):
                self.db.execute(sql)
        _reset_temp(self.db)
        return {"kind": "presort", "policy": label, "note": note, "costs": costs}

    # ------------------------------------------------------------------ the search
    def _cost(self, policy, groups: dict | None = None) -> float:
        """The cost of one trial (its overflow groups left in ``self.overflow_groups``). Trials are pure
        functions of (policy, groups), so each is computed once."""
        key = _trial_key(policy, groups)
        if key not in self._memo:
            cost = self._trial(policy, groups)
            self._memo[key] = (cost, list(self.overflow_groups))
        cost, self.overflow_groups = self._memo[key]
        return cost

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
            for li, mode in order:
                if mode == levels[li]:
                    continue
                c = self._cost({**levels, li: mode})
                if c < cost - 1e-9:
                    levels, cost, changed = {**levels, li: mode}, c, True
        self._cost(levels)
        candidates = list(dict.fromkeys(self.overflow_groups))
        groups: dict = {}
        budget = min(GROUP_TRIALS, TRIAL_PIECES // max(1, self.count))
        for li, key in candidates:
            for mode in self.levels[li].overflow:
                if mode == groups.get((li, key), levels[li]) or budget <= 0:
                    continue
                budget -= 1
                trial = {**groups, (li, key): mode}
                c = self._cost(levels, trial)
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
        """The written trial (:meth:`_write`) with each piece's price and near-step flag: ``mail_fin`` (level,
        rate, price, container, print-order number and bundle of each piece), sorted by piece before it is
        written, so ``mail_fin`` is appended in key order (inserted in print order, it was written at random
        once larger than the page cache). ``mail_ps`` is still looked up in print order."""
        db = self.db
        names = " ".join(f"WHEN {i} THEN ?" for i in range(len(self.levels)))
        # no declared types: the values reach mail_piece exactly as an UPDATE from mail_ps would give them
        db.execute(f"CREATE TABLE {self.out}.mail_fin (piece_no INTEGER PRIMARY KEY, level, rate_level, dest, "
                   f"tray_no, rolled, price, near_step, seq, bundle, {', '.join(FILE_COLUMNS)})")
        with small_sorts(db):
            db.execute(
                f"INSERT INTO {self.out}.mail_fin SELECT a.piece_no, CASE a.li {names} END, a.rate, a.grp, a.tray_no, "
                "a.rolled, COALESCE(r.price, w.single), CASE WHEN r.price IS NULL THEN w.near_single ELSE w.near_rate END, "
                f"a.seq, a.bundle, {', '.join('a.' + c for c in FILE_COLUMNS)} "
                "FROM mail_ord AS a JOIN mail_ps AS w ON w.piece_no = a.piece_no "
                "LEFT JOIN mail_rate AS r ON r.rate = a.rate AND r.step_idx = w.step_idx ORDER BY a.piece_no",
                [lv.name for lv in self.levels])


def finish_statements(schema: str, with_files: bool) -> list[str]:
    """The statements that write a mailing's finished rows (``mail_fin``, ``mail_trayrow`` of ``schema``:
    :meth:`Mailing._finish_rows`) into the plan: one UPDATE of the stream's pieces joined in piece order
    (updating a large ``mail_piece`` in print order would read its pages at random), with their ids and
    print-file columns when the presort cut the files, and the containers' rows."""
    files = ", " + set_file_columns("f") if with_files else ""
    return ["UPDATE mail_piece SET level = f.level, rate_level = f.rate_level, dest = f.dest, tray_no = f.tray_no, "
            f"rolled = f.rolled, price = f.price, near_step = f.near_step, seq = f.seq, bundle_no = f.bundle{files} "
            f"FROM (SELECT * FROM {schema}.mail_fin ORDER BY piece_no) AS f WHERE mail_piece.piece_no = f.piece_no",
            f"INSERT INTO mail_tray SELECT * FROM {schema}.mail_trayrow ORDER BY tray_no"]


def assign_sequence(db, stream: str, order: str = "sort_key, piece_no") -> None:
    """Sequence numbers for a stream without containers, in ``order``."""
    with small_sorts(db):
        db.execute(f"UPDATE mail_piece SET seq = s.rn FROM (SELECT piece_no, ROW_NUMBER() OVER (ORDER BY {order}) "
                   "AS rn FROM mail_piece WHERE stream = ?) s WHERE mail_piece.piece_no = s.piece_no", (stream,))
