"""Mail stage, presort trials (mail/trial.py): the array engine's trials against the SQL presort trial it
replaced (kept here as the reference), for every single policy, per-level choices and random per-group
exceptions; and a group trial computed from the base trial against the same trial computed in full."""
from __future__ import annotations

import random
import sqlite3

import pytest

from ccm_batch import mail
from ccm_batch.mail.presort import Mailing
from ccm_batch.mail.rules import load_rulebook
from ccm_batch.mail.sample import document_row, insert_documents, low_minimum_rules

DATE = "2026-01-15"


def sql_trial(m: Mailing, policy, groups=None) -> tuple[float, list]:
    """The presort trial as SQL over the working table (the implementation before mail/trial.py)."""
    db, shape = m.db, m.shape
    groups = groups or {}
    overflow_groups = []
    db.execute("CREATE TEMP TABLE IF NOT EXISTS ref_asg (piece_no INTEGER, key TEXT, tray INTEGER)")
    db.execute("CREATE TEMP TABLE IF NOT EXISTS ref_roll (piece_no INTEGER)")
    db.execute("UPDATE mail_ps SET state=0, li=NULL, rate=NULL, rolled_rate=NULL, rolled_li=NULL, grp=NULL, "
               "tray=NULL")
    containers = 0
    capacity = shape.containers[0].length_mm
    last_li = len(m.levels) - 1
    for li, level in enumerate(m.levels):
        level_mode = m._mode(li, policy)
        db.execute("DROP TABLE IF EXISTS temp.ref_qual")
        db.execute("CREATE TEMP TABLE ref_qual (key TEXT PRIMARY KEY)")
        minimum, args = str(int(level.min_pieces)), []
        if level.min_by_weight:
            minimum = "CASE " + " ".join("WHEN MAX(weight) <= ? THEN ?" for _ in level.min_by_weight) + \
                f" ELSE {int(level.min_pieces)} END"
            args = [v for limit, n in level.min_by_weight for v in (limit + 1e-9, n)]
        db.execute(f"INSERT INTO ref_qual SELECT k{li} FROM mail_ps WHERE state = 0 AND k{li} IS NOT NULL "
                   f"GROUP BY k{li} HAVING COUNT(*) >= {minimum}", args)
        asg, roll = [], []
        state = {"key": None, "idx": 0, "tray": [], "fill": 0.0}

        def close_group():
            nonlocal containers
            key, tray, fill, idx = state["key"], state["tray"], state["fill"], state["idx"]
            if key is None or not tray:
                return
            mode = groups.get((li, key), level_mode)
            if mode not in level.overflow:
                mode = level_mode
            if idx > 0 and li < last_li and fill < shape.full_ratio * capacity:
                overflow_groups.append((li, key))
            if idx == 0 or li == last_li or fill >= shape.full_ratio * capacity or mode == "overflow":
                asg.extend((p, key, idx) for p in tray)
                containers += 1
            elif mode == "rollup":
                roll.extend((p,) for p in tray)

        for piece_no, key, thick in db.execute(
                f"SELECT p.piece_no, p.k{li}, p.thick FROM mail_ps p JOIN ref_qual q ON p.k{li} = q.key "
                f"WHERE p.state = 0 ORDER BY p.k{li}, (p.rolled_li IS NULL), p.sort_key, p.piece_no").fetchall():
            if key != state["key"]:
                close_group()
                state.update(key=key, idx=0, tray=[], fill=0.0)
            elif state["tray"] and state["fill"] + thick > capacity + 1e-9:
                asg.extend((p, key, state["idx"]) for p in state["tray"])
                containers += 1
                state.update(idx=state["idx"] + 1, tray=[], fill=0.0)
            state["tray"].append(piece_no)
            state["fill"] += thick
        close_group()
        db.executemany("INSERT INTO ref_asg VALUES (?,?,?)", asg)
        db.executemany("INSERT INTO ref_roll VALUES (?)", roll)
        db.execute("UPDATE mail_ps SET state = 1, li = ?, grp = a.key, tray = a.tray, "
                   "rate = CASE WHEN mail_ps.rolled_li = ? THEN mail_ps.rolled_rate ELSE ? END "
                   "FROM ref_asg a WHERE mail_ps.piece_no = a.piece_no", (li, li - 1, level.rate_level))
        db.execute("UPDATE mail_ps SET rolled_rate = NULL, rolled_li = NULL WHERE state = 0 AND rolled_li = ?",
                   (li - 1,))
        db.execute("UPDATE mail_ps SET rolled_rate = ?, rolled_li = ? "
                   "WHERE piece_no IN (SELECT piece_no FROM ref_roll)", (level.rate_level, li))
        db.execute("DELETE FROM ref_asg")
        db.execute("DELETE FROM ref_roll")
    if shape.automation_routing_digits:
        db.execute("UPDATE mail_ps SET rate = ? WHERE auto = 0", (shape.nonautomation_rate or None,))
    postage = db.execute("SELECT COALESCE(SUM(COALESCE(r.price, p.single)), 0) FROM mail_ps p LEFT JOIN mail_rate r "
                         "ON r.rate = p.rate AND r.step_idx = p.step_idx").fetchone()[0]
    return round(postage + containers * m.pack.handling_per_container, 6), overflow_groups


def _documents(rng: random.Random) -> list:
    """French and US documents, many to each destination, of 1 to 9 sheets: groups of several containers
    with overflow containers at every level; some US pieces without a delivery point (no automation)."""
    rows, seq = [], 0
    for dept in ("13", "31", "33", "59", "69", "75"):
        for town in range(rng.randint(4, 12)):
            pc = f"{dept}{rng.randrange(0, 1000, 10):03d}"
            for i in range(rng.choice((8, 15, 25, 40, 45, 60, 130, 250, 420, 700))):
                seq += 1
                rows.append(document_row(seq, postcode=pc, recipient_name=f"M JEAN MARTIN {seq}",
                                         sheets=rng.choice((1, 2, 3, 5, 9, 12)),
                                         address=[f"M JEAN MARTIN {seq}", f"{i + 1} RUE DES LILAS", f"{pc} VILLE"]))
    for zip3 in ("100", "606", "331", "941"):
        for _ in range(rng.randint(3, 7)):
            zip5 = f"{zip3}{rng.randint(1, 99):02d}"
            for i in range(rng.choice((20, 90, 160, 300, 520))):
                seq += 1
                code = f"{zip5}-{i % 9999:04d}-{i % 97:02d}" if rng.random() < 0.9 else zip5
                rows.append(document_row(seq, country="US", postcode=code, recipient_name=f"JOHN DOE {seq}",
                                         sheets=rng.choice((1, 1, 2, 4, 8)), page_width=12240, page_height=15840))
    return rows


@pytest.fixture(scope="module")
def mailings(tmp_path_factory):
    """The presorted mailings of those documents (rule packs with low mailing minimums)."""
    base = tmp_path_factory.mktemp("trials")
    rules = low_minimum_rules(base / "rules")
    db = sqlite3.connect(base / "work.db")
    insert_documents(db, _documents(random.Random(3)))
    cfg = mail.MailConfig.from_dict({"enabled": True, "rules_dir": rules}, base)
    mail.plan_mail(db, cfg, "TR", DATE)
    book = load_rulebook(cfg.rule_dirs, DATE)
    out = []
    for name, pack_id, shape in db.execute("SELECT name, pack_id, shape FROM mail_stream WHERE kind = 'presort' "
                                           "ORDER BY name").fetchall():
        pack = book.packs[pack_id]
        out.append(Mailing(db, name, pack, pack.shapes[shape]))
    assert {m.pack.id for m in out} == {"LAPOSTE-LI", "USPS-FCM"}
    yield db, out, book


def _policies(m: Mailing) -> list:
    out = list(m.pack.policies)
    rng = random.Random(5)
    for _ in range(4):
        out.append({li: rng.choice(m.levels[li].overflow) for li in range(len(m.levels) - 1)})
    return out


def test_trials_equal_the_sql_trial(mailings):
    _db, found, _book = mailings
    checked = 0
    for m in found:
        m.count = m._prepare()                       # the working table of this mailing (temp tables are shared)
        m.trials = None
        for policy in _policies(m):
            cost = m._trial(policy)
            assert (cost, m.overflow_groups) == sql_trial(m, policy)
            rng = random.Random(len(m.overflow_groups))
            for _ in range(6):                       # group exceptions: some overflow groups, any option
                picks = rng.sample(m.overflow_groups, min(len(m.overflow_groups), rng.randint(1, 4)))
                groups = {(li, key): rng.choice(("none", "overflow", "rollup")) for li, key in picks}
                cost = m._trial(policy, groups)
                assert (cost, m.overflow_groups) == sql_trial(m, policy, groups), (policy, groups)
                checked += 1
    assert checked >= 40


def test_group_trial_from_the_base_equals_the_full_trial(mailings):
    _db, found, _book = mailings
    for m in found:
        m.count = m._prepare()
        m.trials = None
        engine = m._engine()
        for policy in _policies(m):
            modes, _ = m._modes(policy, None)
            _, ovf = engine.trial(modes, {})
            rng = random.Random(7)
            for _ in range(10):
                picks = rng.sample(ovf, min(len(ovf), rng.randint(1, 5)))
                groups = m._modes(policy, {(li, key): rng.choice(m.levels[li].overflow) for li, key in picks})[1]
                incremental = engine.trial(modes, groups)
                exc = {(li, engine.kmap[li][key]): mode for (li, key), mode in groups.items() if mode != modes[li]}
                state = engine.full(modes, exc)
                assert incremental == (engine.cost(state), engine.overflow_groups(state["ovf"]))
