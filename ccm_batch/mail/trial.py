"""Mail stage, presort trials: one overflow choice of a mailing evaluated on compact per-piece arrays.

:class:`Trials` holds what every trial of a mailing reads, prepared once from its working table
(``mail_ps``, see :mod:`.presort`): the pieces in in-tray order (rank = position in ``ORDER BY
sort_key, piece_no``), each piece's *kind* (thickness, weight, weight step, single price, automation:
a few dozen distinct values), and per sorted level its group number (groups numbered in key order) and
the pieces of each group in rank order (a counting sort: no comparison of keys). A trial then prepares
the levels exactly as the SQL of the presort did (postal.md §1.7, the module docstring of
:mod:`.presort`): the same groups, minimums, containers cut in the same order (rolled-up pieces first,
then by rank) with the same floating-point fill, the same overflow decisions. Postage is counted per
distinct price (pieces × price, summed exactly as fractions, then rounded once), so the cost does not
depend on the order pieces are visited in.

A *group trial* (the mailing's level modes plus per-group exceptions) is computed from the trial of the
same level modes without exceptions (the *base*, computed once and kept): only the groups whose mode
changes are prepared again, then, level by level, only the groups that receive a piece whose state
entering that level (present or not, rolled up or not) differs from the base's; every other group gets
exactly the base's input, hence the base's containers and prices. The residual level takes all the
leftover pieces, so it is cut again whenever any leftover piece changes. The result is the same as a
full trial (``tests/test_presort_trials.py`` compares them), at a cost proportional to the pieces of the
groups it touches instead of the whole mailing.

Memory: about 47 bytes per piece with three levels (``array`` columns: piece number, kind, postcode
number, sheets and documents (for the print files, :mod:`.files`), group and group order per sorted
level, the base trial's level and rolled-up flags); groups are lists only while one is cut.
"""
from __future__ import annotations

from array import array
from fractions import Fraction

EPS = 1e-9


class Trials:
    """The trial engine of one mailing (``levels``, ``shape``, ``handling`` of its pack)."""

    def __init__(self, db, levels, shape, handling: float, rate_table: dict):
        self.levels, self.shape, self.handling = levels, shape, handling
        self.last = len(levels) - 1
        self.cap = shape.containers[0].length_mm
        self.full_fill = shape.full_ratio * self.cap
        nl = self.last
        self.keys, self.kmap = [], []
        for li in range(nl):
            names = [k for (k,) in db.execute(f"SELECT DISTINCT k{li} FROM mail_ps WHERE k{li} IS NOT NULL "
                                              f"ORDER BY k{li}")]
            self.keys.append(names)
            self.kmap.append({k: g for g, k in enumerate(names)})
        kinds: dict = {}
        pcs: dict = {}
        self.piece_no, self.kind, self.pcid = array("q"), array("i"), array("i")
        self.sheets, self.docs = array("i"), array("i")          # -1: NULL
        self.gid = [array("i") for _ in range(nl)]
        cols = "".join(f", k{li}" for li in range(nl))
        for row in db.execute(f"SELECT piece_no, thick, weight, step_idx, single, auto, pc, sheets, documents{cols} "
                              "FROM mail_ps ORDER BY sort_key, piece_no"):
            self.piece_no.append(row[0])
            k = kinds.setdefault(row[1:6], len(kinds))
            self.kind.append(k)
            self.pcid.append(pcs.setdefault(row[6], len(pcs)))
            self.sheets.append(-1 if row[7] is None else row[7])
            self.docs.append(-1 if row[8] is None else row[8])
            for li in range(nl):
                key = row[9 + li]
                self.gid[li].append(-1 if key is None else self.kmap[li][key])
        self.pcs = list(pcs)                     # distinct postcodes (the bundles' keys are made from them)
        self.n = len(self.piece_no)
        table = list(kinds)
        self.thick = [t for t, *_ in table]
        self.weight = [w for _, w, *_ in table]
        self.start, self.order = [], []
        for li in range(nl):                     # counting sort: the pieces of each group, in rank order
            count = [0] * (len(self.keys[li]) + 1)
            for g in self.gid[li]:
                if g >= 0:
                    count[g + 1] += 1
            for g in range(len(count) - 1):
                count[g + 1] += count[g]
            order = array("i", bytes(count[-1] * order_itemsize()))
            pos = count[:-1]
            for i, g in enumerate(self.gid[li]):
                if g >= 0:
                    order[pos[g]] = i
                    pos[g] += 1
            self.start.append(count)
            self.order.append(order)
        # price index of a piece assigned at level li, rolled up from li - 1 or not: (rate name, price)
        self.prices: list = []                   # distinct prices (floats; 0.0 for none)
        self.rate_names: list = []
        self.pidx = []                           # pidx[li][rolled][kind]
        pos_of: dict = {}
        for li, level in enumerate(levels):
            per = []
            for rolled in (0, 1):
                rate = levels[li - 1].rate_level if rolled and li > 0 else level.rate_level
                row = []
                for _thick, _weight, step, single, auto in table:
                    r = rate
                    if shape.automation_routing_digits and not auto:
                        r = shape.nonautomation_rate or None
                    price = rate_table.get((r, step)) if r is not None and step is not None else None
                    if price is None:
                        price = single
                    key = (r, price)
                    if key not in pos_of:
                        pos_of[key] = len(self.prices)
                        self.prices.append(price)
                        self.rate_names.append(r)
                    row.append(pos_of[key])
                per.append(row)
            self.pidx.append(per)
        self.exact = [Fraction(p) if p is not None else Fraction(0) for p in self.prices]
        self._base = None                        # (modes, state) of the last trial without exceptions

    # ------------------------------------------------------------------ one group of one level
    def _group(self, li: int, seq: list, mode: str):
        """Cut the present pieces ``seq`` (in tray order) of one group of level ``li`` < last:
        ``(kept, rolled, containers, overflow, cut)`` — ``cut`` the start of the last container — or
        None when the group is below the level's minimum."""
        level = self.levels[li]
        if not seq:
            return None
        minimum = int(level.min_pieces)
        if level.min_by_weight:
            kind, weight = self.kind, self.weight
            heaviest = max(weight[kind[i]] for i in seq)
            minimum = int(level.min_pieces)
            for limit, value in level.min_by_weight:
                if heaviest <= limit + EPS:
                    minimum = value
                    break
        if len(seq) < minimum:
            return None
        cut, fill, idx = self._cut(seq)
        overflow = idx > 0 and fill < self.full_fill
        if idx == 0 or fill >= self.full_fill or mode == "overflow":
            return seq, (), idx + 1, overflow, cut
        if mode == "rollup":
            return seq[:cut], seq[cut:], idx, overflow, cut
        return seq[:cut], (), idx, overflow, cut

    def _cut(self, seq: list) -> tuple:
        """Containers of the biggest size, in order: (start of the last, its fill, its index)."""
        kind, thick, limit = self.kind, self.thick, self.cap + EPS
        fill, idx, cut = 0.0, 0, 0
        for pos, i in enumerate(seq):
            t = thick[kind[i]]
            if fill + t > limit and pos > cut:
                idx += 1
                cut = pos
                fill = 0.0
            fill += t
        return cut, fill, idx

    def _cuts(self, seq: list) -> list:
        """Every container of ``seq``: (start, end, fill)."""
        kind, thick, limit = self.kind, self.thick, self.cap + EPS
        out, fill, cut = [], 0.0, 0
        for pos, i in enumerate(seq):
            t = thick[kind[i]]
            if fill + t > limit and pos > cut:
                out.append((cut, pos, fill))
                cut = pos
                fill = 0.0
            fill += t
        if seq:
            out.append((cut, len(seq), fill))
        return out

    # ------------------------------------------------------------------ full trial
    def full(self, modes: tuple, exc: dict, record=None) -> dict:
        """Prepare every level: ``modes`` per level, ``exc`` {(level, group number): mode}. With
        ``record`` (a callable), each container is passed to it as (level, key, index, pieces, fill,
        overflow flag, full flag) with the pieces' rate names and rolled-up flags."""
        n, last = self.n, self.last
        lv, rm = array("b", b"\xff" * n), array("H", bytes(2 * n))
        counts = [0] * len(self.prices)
        gcont, ovf = [], set()
        for li in range(last):
            order, start, pidx = self.order[li], self.start[li], self.pidx[li]
            conts = array("i", bytes(order_itemsize() * (len(start) - 1)))
            bit = 1 << (li - 1) if li else 0
            for g in range(len(start) - 1):
                rolled, plain = [], []
                for i in order[start[g]:start[g + 1]]:
                    if lv[i] < 0:
                        (rolled if rm[i] & bit else plain).append(i)
                seq = rolled + plain if rolled else plain
                res = self._group(li, seq, exc.get((li, g), modes[li]))
                if res is None:
                    continue
                kept, up, conts[g], overflow, _ = res
                if overflow:
                    ovf.add((li, g))
                kind = self.kind
                p0, p1 = pidx[0], pidx[1]
                for i in kept:
                    lv[i] = li
                    counts[(p1 if rm[i] & bit else p0)[kind[i]]] += 1
                for i in up:
                    rm[i] |= 1 << li
                if record is not None:
                    self._record(record, li, self.keys[li][g], seq, len(kept), bit, rm)
            gcont.append(conts)
        bit = 1 << (last - 1) if last else 0
        res_rolled, res_plain = array("i"), array("i")
        for i in range(n):
            if lv[i] < 0:
                (res_rolled if rm[i] & bit else res_plain).append(i)
        seq = list(res_rolled) + list(res_plain)
        p0, p1, kind = self.pidx[last][0], self.pidx[last][1], self.kind
        for i in res_rolled:
            counts[p1[kind[i]]] += 1
        for i in res_plain:
            counts[p0[kind[i]]] += 1
        rcont = len(self._cuts(seq)) if seq else 0
        if record is not None and seq:
            self._record(record, last, self.levels[last].key(""), seq, len(seq), bit, rm)
        for i in seq:
            lv[i] = last
        return {"lv": lv, "rm": rm, "counts": counts, "gcont": gcont, "ovf": ovf, "res_rolled": res_rolled,
                "res_plain": res_plain, "rcont": rcont}

    def _record(self, record, li, key, seq, nkept, bit, rm) -> None:
        """Pass the kept containers of one group to ``record(level, key, index, rows, fill, last)``,
        ``rows`` = [(piece number, rate name, rolled up, postcode, sheets, documents)] (sheets and documents
        ``None`` where NULL), ``last`` for the group's last container."""
        kind, p0, p1, pcid, pcs = self.kind, self.pidx[li][0], self.pidx[li][1], self.pcid, self.pcs
        sheets, docs = self.sheets, self.docs
        cuts = self._cuts(seq)
        for idx, (a, b, fill) in enumerate(cuts):
            if b > nkept:
                break
            rows = [(self.piece_no[i], self.rate_names[(p1 if rm[i] & bit else p0)[kind[i]]],
                     bool(rm[i] & bit), pcs[pcid[i]], None if sheets[i] < 0 else sheets[i],
                     None if docs[i] < 0 else docs[i]) for i in seq[a:b]]
            record(li, key, idx, rows, fill, idx == len(cuts) - 1)

    def cost(self, state: dict) -> float:
        postage = float(sum(c * p for c, p in zip(state["counts"], self.exact) if c))
        containers = sum(sum(c) for c in state["gcont"]) + state["rcont"]
        return round(postage + containers * self.handling, 6)

    def overflow_groups(self, ovf) -> list:
        return [(li, self.keys[li][g]) for li, g in sorted(ovf)]

    # ------------------------------------------------------------------ a trial, from the base if it can
    def trial(self, modes: tuple, groups: dict) -> tuple[float, list]:
        """``(cost, overflow groups)`` of the level ``modes`` with the per-group exceptions ``groups``
        ({(level, key): mode}, modes already valid for their level)."""
        exc = {}
        for (li, key), mode in groups.items():
            g = self.kmap[li].get(key) if li < self.last else None
            if g is not None and mode != modes[li]:
                exc[(li, g)] = mode
        if self._base is None or self._base[0] != modes:
            self._base = (modes, self.full(modes, {}))
        base = self._base[1]
        if not exc:
            return self.cost(base), self.overflow_groups(base["ovf"])
        return self._delta(modes, exc, base)

    def _delta(self, modes: tuple, exc: dict, base: dict) -> tuple[float, list]:
        lv, rm, kind, last = base["lv"], base["rm"], self.kind, self.last
        counts = list(base["counts"])
        containers = sum(sum(c) for c in base["gcont"]) + base["rcont"]
        ovf = set(base["ovf"])
        enter: dict = {}                 # piece -> (present, rolled) entering the level, where not the base's
        for li in range(last):
            gid, order, start = self.gid[li], self.order[li], self.start[li]
            p0, p1 = self.pidx[li]
            bit = 1 << (li - 1) if li else 0
            nbit = 1 << li
            todo = {g for (l2, g) in exc if l2 == li}
            todo.update(gid[i] for i in enter if gid[i] >= 0)
            nxt: dict = {}
            for g in todo:
                members = order[start[g]:start[g + 1]]
                rolled, plain = [], []
                for i in members:
                    st = enter.get(i)
                    if st is None:
                        if lv[i] >= li:
                            (rolled if rm[i] & bit else plain).append(i)
                    elif st[0]:
                        (rolled if st[1] else plain).append(i)
                    if lv[i] == li:          # the base's price of this group's pieces
                        counts[(p1 if rm[i] & bit else p0)[kind[i]]] -= 1
                containers -= base["gcont"][li][g]
                ovf.discard((li, g))
                res = self._group(li, rolled + plain, exc.get((li, g), modes[li]))
                kept, up = (), ()
                if res is not None:
                    kept, up, conts, overflow, _ = res
                    containers += conts
                    if overflow:
                        ovf.add((li, g))
                    for i in kept:
                        st = enter.get(i)
                        counts[(p1 if (st[1] if st is not None else rm[i] & bit) else p0)[kind[i]]] += 1
                kept, up = set(kept), set(up)
                for i in members:
                    st = enter.get(i)
                    present = st[0] if st is not None else lv[i] >= li
                    cand = (present and i not in kept, i in up)
                    if cand != (lv[i] > li, bool(rm[i] & nbit)):
                        nxt[i] = cand
            for i, st in enter.items():
                if gid[i] < 0:
                    cand = (st[0], False)
                    if cand != (lv[i] > li, bool(rm[i] & nbit)):
                        nxt[i] = cand
            enter = nxt
        if enter:                         # the residual level: its pieces' prices, and cut again
            bit = 1 << (last - 1) if last else 0
            p0, p1 = self.pidx[last]
            add_rolled, add_plain = [], []
            for i, (present, up) in enter.items():
                if lv[i] == last:
                    counts[(p1 if rm[i] & bit else p0)[kind[i]]] -= 1
                if present:
                    counts[(p1 if up else p0)[kind[i]]] += 1
                    (add_rolled if up else add_plain).append(i)
            seq = sorted([i for i in base["res_rolled"] if i not in enter] + add_rolled) + \
                sorted([i for i in base["res_plain"] if i not in enter] + add_plain)
            containers += len(self._cuts(seq)) - base["rcont"]
        postage = float(sum(c * p for c, p in zip(counts, self.exact) if c))
        return round(postage + containers * self.handling, 6), self.overflow_groups(ovf)


def order_itemsize() -> int:
    return array("i").itemsize
