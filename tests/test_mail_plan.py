"""Mail stage tests: the whole plan on 20,000 generated French + US documents, checked from the outputs.

The checks recompute what they can independently of the plan code: presort keys from the postcode,
level minimums and prices from the rule pack TOML files, totals from the mail-run file.
"""
import csv
import json
import sqlite3
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from ccm_batch import mail
from ccm_batch.mail.sample import generate_documents

RULES = Path(mail.__file__).parent / "rules"
OZ = 28.349523125
JOB, DATE = "STMT2601", "2026-01-15"
CONFIG = {
    "enabled": True,
    "inserts": {"BRE": {"feeder": 1, "weight_g": 3.0, "thickness_mm": 0.1},
                "LEAFLET": {"feeder": 2, "weight_g": 4.0, "thickness_mm": 0.1}},
    "max_pieces_per_file": 2500,
    "imb": {"enabled": True, "mailer_id": "123456", "service_type": "270"},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mail")
    db = sqlite3.connect(str(out / "work.db"))
    generate_documents(db, 20000, seed=7)
    cfg = mail.MailConfig.from_dict(CONFIG, out)
    summary = mail.plan_mail(db, cfg, JOB, DATE)
    files = mail.write_production_files(db, out, JOB, cfg)
    with open(out / f"{JOB}.mailrun.csv", newline="", encoding="utf-8") as f:
        pieces = list(csv.DictReader(f))
    with open(out / f"{JOB}.postage.csv", newline="", encoding="utf-8") as f:
        postage = list(csv.DictReader(f))
    yield {"db": db, "cfg": cfg, "summary": summary, "files": files, "pieces": pieces, "postage": postage, "out": out}
    db.close()


def pack(name):
    return tomllib.loads((RULES / name).read_text(encoding="utf-8"))


LAPOSTE = pack("laposte_lettre_industrielle_2025.toml")
USPS = pack("usps_fcm_letters_2025.toml")
ENVELOPES = {e["name"]: e for e in tomllib.loads((RULES / "envelopes.toml").read_text())["envelope"]}
with open(RULES / "usps_l801_sample.csv", encoding="utf-8") as _f:
    AADC = {r["zip3"]: r["aadc"] for r in csv.DictReader(_f)}
PACKS = {"laposte": (LAPOSTE, 1.0), "usps": (USPS, OZ)}


def dept(pc):
    if pc.startswith("20"):
        return "2A" if int(pc) < 20200 else "2B"
    return pc[:3] if pc[:2] in ("97", "98") else pc[:2]


KEYS = {"5D": lambda pc: pc[:5], "AADC": lambda pc: AADC.get(pc[:3]), "MXD": lambda pc: "ALL",
        "CP_DIRECT": lambda pc: pc[:5], "DEPT": dept, "NATIONAL": lambda pc: "ALL"}


def price_from_pack(p, unit, shape, table, level, weight):
    data = p["shape"][shape][table]
    steps = [s * unit for s in data["steps"]]
    prices = data["prices"] if table == "single_piece" else data[level]
    for s, price in zip(steps, prices):
        if weight <= s + 1e-6:
            return price
    raise AssertionError(f"{weight} g over the last step")


def test_every_document_in_exactly_one_piece(run):
    db = run["db"]
    seqs = [int(s) for p in run["pieces"] for s in p["doc_seqs"].split(";")]
    assert len(seqs) == 20000
    assert sorted(seqs) == list(range(1, 20001))
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT doc_seq) FROM mail_piece_doc").fetchone() == (20000, 20000)
    assert run["summary"].documents_in == 20000
    assert run["summary"].pieces_out == len(run["pieces"]) < 20000
    ids = [p["piece_id"] for p in run["pieces"]]
    assert len(set(ids)) == len(ids) and ids == sorted(ids)       # ids follow print order


def test_households_are_compatible_and_address_carrier_first(run):
    db = run["db"]
    docs = {r[0]: r[1:] for r in db.execute("SELECT seq, customer_id, address, sender, language, duplex, "
                                            "mail_separately FROM documents")}
    merged = 0
    for p in run["pieces"]:
        seqs = [int(s) for s in p["doc_seqs"].split(";")]
        if len(seqs) > 1:
            merged += 1
            rows = [docs[s] for s in seqs]
            assert len({(r[0], r[1], r[2], r[3], r[4]) for r in rows}) == 1, p
            assert not any(r[5] for r in rows)
            assert seqs[0] == min(seqs)                  # carrier = first document (no type preference)
            assert seqs[1:] == sorted(seqs[1:])
    assert merged > 1000
    split = [p for p in run["pieces"] if int(p["parts"]) > 1]
    assert split
    for p in split:
        assert 1 <= int(p["part"]) <= int(p["parts"])
    # the parts of a split household (one customer at one address) are numbered 1/n .. n/n
    households = defaultdict(list)
    for p in split:
        households[docs[int(p["doc_seqs"].split(";")[0])][:2]].append(p)
    for parts in households.values():
        assert sorted(int(p["part"]) for p in parts) == list(range(1, int(parts[0]["parts"]) + 1))


def test_no_envelope_over_its_limits(run):
    for p in run["pieces"]:
        if p["stream"] in ("invalid", "oversize"):
            continue
        env = ENVELOPES[p["envelope"]]
        assert int(p["sheets"]) <= env["max_sheets"], p
        pk, unit = PACKS[p["stream"].split("-")[0]] if not p["stream"].startswith("intl") else PACKS["laposte"]
        assert float(p["weight_g"]) <= pk["shape"][p["shape"]]["max_weight"] * unit + 0.01, p
        assert float(p["thickness_mm"]) <= pk["shape"][p["shape"]]["max_thickness_mm"] + 1e-6, p
    oversize = [p for p in run["pieces"] if p["stream"] == "oversize"]
    assert oversize and all(p["envelope"] == "" and float(p["postage"]) == 0 for p in oversize)
    assert all(int(p["sheets"]) > ENVELOPES["C4"]["max_sheets"] for p in oversize)


def test_weight_is_sheets_inserts_and_envelope(run):
    db = run["db"]
    sizes = {r[0]: r[1:] for r in db.execute("SELECT seq, page_width, page_height, sheets FROM documents")}
    extra = {"BRE": 3.0, "LEAFLET": 4.0}
    for p in run["pieces"][:3000]:
        if not p["envelope"]:
            continue
        paper = sum(s[2] * (s[0] / 1440 * 0.0254) * (s[1] / 1440 * 0.0254) * 80
                    for s in (sizes[int(x)] for x in p["doc_seqs"].split(";")))
        inserts = sum(extra[i] for i in p["inserts"].split(";") if i)
        assert float(p["weight_g"]) == pytest.approx(paper + inserts + ENVELOPES[p["envelope"]]["weight_g"], abs=0.01)


def test_invalid_and_foreign_addresses_in_their_own_streams(run):
    db = run["db"]
    country = dict(db.execute("SELECT seq, country FROM documents"))
    postcode = dict(db.execute("SELECT seq, postcode FROM documents"))
    streams = Counter(p["stream"] for p in run["pieces"])
    assert streams["invalid"] > 0 and streams["intl-dl"] > 0
    for p in run["pieces"]:
        seqs = [int(s) for s in p["doc_seqs"].split(";")]
        if p["stream"].startswith("intl-"):
            assert all(country[s] not in ("FR", "US") for s in seqs)
        elif p["stream"] == "invalid":
            assert p["reason"] and len(seqs) == 1
            assert len(postcode[seqs[0]]) != 5 or not postcode[seqs[0]].isdigit()
        elif p["stream"].startswith("laposte"):
            assert all(country[s] == "FR" for s in seqs)
        elif p["stream"].startswith("usps"):
            assert all(country[s] == "US" for s in seqs)


def test_presort_order_levels_and_minimums_recomputed(run):
    for stream, (pk, levels) in {"laposte-li-dl": (LAPOSTE, LAPOSTE["shape"]["letter"]["levels"]),
                                 "usps-fcm-us10": (USPS, USPS["shape"]["letter"]["levels"])}.items():
        rows = [p for p in run["pieces"] if p["stream"] == stream]
        assert [int(p["seq"]) for p in rows] == list(range(1, len(rows) + 1))
        names = [lv["name"] for lv in levels]
        # finest level first, then destination key, then tray; in a tray by postcode (rolled-up pieces first)
        order = [(names.index(p["level"]), p["dest"], int(p["tray"])) for p in rows]
        assert order == sorted(order)
        for a, b in zip(rows, rows[1:]):
            if a["tray"] == b["tray"] and a["rolled"] == b["rolled"]:
                assert a["postcode"] <= b["postcode"]
        used = Counter(p["level"] for p in rows)
        assert all(used[n] > 0 for n in names), used
        for li, lv in enumerate(levels):
            key = KEYS[lv["name"]]
            groups = Counter(key(p["postcode"]) for p in rows if p["level"] == lv["name"])
            for dest, n in groups.items():
                assert n >= lv["min_pieces"], (stream, lv["name"], dest, n)
            assert all(key(p["postcode"]) == p["dest"] for p in rows if p["level"] == lv["name"])
            # finest first: no group left at a coarser level could have qualified here
            coarser = Counter(key(p["postcode"]) for p in rows if names.index(p["level"]) > li)
            for dest, n in coarser.items():
                if dest is not None and dest not in groups:
                    assert n < lv["min_pieces"], (stream, lv["name"], dest, n)


def test_trays_and_bundles(run):
    db = run["db"]
    with open(run["out"] / f"{JOB}.trays.csv", newline="", encoding="utf-8") as f:
        trays = list(csv.DictReader(f))
    counts = Counter((p["stream"], p["tray"]) for p in run["pieces"] if p["tray"])
    assert {(t["stream"], t["tray"]): int(t["pieces"]) for t in trays} == counts
    assert all(t["size"] in ("BAC", "2FT", "1FT") for t in trays)
    # bundles of the La Poste letter stream: at most 100 (CP) / 50 (DEPT, NATIONAL) pieces, one CP each
    bundles = defaultdict(list)
    for p in run["pieces"]:
        if p["stream"] == "laposte-li-dl":
            bundles[p["bundle"]].append(p)
    for b in bundles.values():
        assert len(b) <= (100 if b[0]["level"] == "CP_DIRECT" else 50)
        if b[0]["level"] != "NATIONAL":
            assert len({p["postcode"] for p in b}) == 1
        assert len({p["tray"] for p in b}) == 1
    breaks = [p for p in run["pieces"] if p["stream"] == "laposte-li-dl" and p["tray_break"] == "1"]
    assert len(breaks) == len([t for t in trays if t["stream"] == "laposte-li-dl"])
    assert db.execute("SELECT COUNT(*) FROM mail_tray WHERE first_seq IS NULL").fetchone()[0] == 0


def test_prices_and_savings_recomputed_from_the_rule_packs(run):
    single_total, postage_total = defaultdict(float), defaultdict(float)
    for p in run["pieces"]:
        stream = p["stream"]
        if stream in ("invalid", "oversize"):
            assert float(p["postage"]) == 0
            continue
        w = float(p["weight_g"])
        if stream.startswith("intl-"):
            data = LAPOSTE["international"]
            expect = next(pr for s, pr in zip(data["steps"], data["prices"]) if w <= s + 1e-6)
            single = expect
        else:
            pk, unit = PACKS[stream.split("-")[0]]
            single = price_from_pack(pk, unit, p["shape"], "single_piece", None, w)
            if p["rate_level"] == "SINGLE":
                expect = single
            else:
                expect = price_from_pack(pk, unit, p["shape"], "rates", p["rate_level"], w)
        assert float(p["postage"]) == pytest.approx(expect, abs=0.005), p
        assert float(p["single_postage"]) == pytest.approx(single, abs=0.005), p
        single_total[p["currency"]] += single
        postage_total[p["currency"]] += expect
    s = run["summary"]
    for cur in ("EUR", "USD"):
        assert s.postage[cur] == pytest.approx(postage_total[cur], abs=0.05)
        assert s.presort_savings[cur] == pytest.approx(single_total[cur] - postage_total[cur], abs=0.05)
        assert s.presort_savings[cur] > 0
        assert s.savings[cur] >= s.presort_savings[cur]        # householding saves on top


def test_postage_statement_adds_up(run):
    rows = run["postage"]
    by_stream = defaultdict(float)
    for p in run["pieces"]:
        by_stream[p["stream"]] += float(p["postage"])
    stream_rows = {r["stream"]: r for r in rows if r["record"] == "STREAM"}
    assert set(stream_rows) == set(by_stream)
    for name, r in stream_rows.items():
        lines = [x for x in rows if x["record"] == "LINE" and x["stream"] == name]
        levels = [x for x in rows if x["record"] == "LEVEL" and x["stream"] == name]
        assert sum(float(x["postage"]) for x in lines) == pytest.approx(float(r["postage"]), abs=0.02)
        assert sum(float(x["postage"]) for x in levels) == pytest.approx(float(r["postage"]), abs=0.02)
        assert sum(int(x["pieces"]) for x in lines) == int(r["pieces"])
        assert sum(int(x["trays"]) for x in levels) == int(r["trays"])
        for x in lines:
            assert float(x["postage"]) == pytest.approx(int(x["pieces"]) * float(x["unit_price"]), abs=0.02)
        assert float(r["postage"]) == pytest.approx(by_stream[name], abs=0.02)
    for total in (r for r in rows if r["record"] == "TOTAL"):
        cur = total["currency"]
        mailed = [r for r in stream_rows.values()
                  if r["currency"] == cur and r["stream"] not in ("invalid", "oversize")]
        assert float(total["postage"]) == pytest.approx(sum(float(r["postage"]) for r in mailed), abs=0.02)
        saving = next(r for r in rows if r["record"] == "SAVINGS" and r["stream"] == "presort" and r["currency"] == cur)
        assert float(saving["postage"]) == pytest.approx(float(total["single_postage"]) - float(total["postage"]),
                                                         abs=0.02)
        assert float(total["postage"]) == pytest.approx(run["summary"].postage[cur], abs=0.02)


def test_print_files_follow_the_plan(run):
    db = run["db"]
    seen, streams = [], []
    for plan in mail.iter_print_files(db):
        assert plan.name == f"{JOB}_{plan.stream}_{plan.seq:03d}"
        pieces = list(plan.pieces)
        assert 0 < len(pieces) == plan.piece_count <= 2500
        sheets = 0
        for i, piece in enumerate(pieces, 1):
            assert piece.index_in_file == i and piece.sheet_offset == sheets and piece.file_break == (i == 1)
            sheets += piece.sheets
        assert sheets == plan.sheets
        if pieces[0].tray is not None and plan.seq > 1:
            assert pieces[0].tray_break              # files break at tray boundaries here
        seen.extend(p.piece_id for p in pieces)
        streams.append(plan.stream)
    assert seen == [p["piece_id"] for p in run["pieces"]]
    assert streams.index("invalid") == len(streams) - 1


def test_imb_payload_on_us_pieces(run):
    us = [p for p in run["pieces"] if p["stream"].startswith("usps")]
    fr = [p for p in run["pieces"] if p["stream"].startswith("laposte")]
    assert all(p["imb_tracking"] == "" for p in fr)
    serials = set()
    for p in us:
        t, r = p["imb_tracking"], p["imb_routing"]
        assert len(t) == 20 and t[:2] == "00" and t[2:5] == "270" and t[5:11] == "123456"
        assert int(t[11:]) == mail.imb_serial(int(p["piece_id"]), mail.ImbConfig(mailer_id="123456"), DATE)
        assert int(t[11:]) % 10 ** 6 == int(p["piece_id"])          # job-date scheme: day block + piece
        serials.add(t[11:])
        assert r == p["postcode"] and len(r) == 11
        fields = mail.parse_imb(t + r)
        assert fields["zip"] == r[:5] and fields["delivery_point"] == r[9:]
    assert len(serials) == len(us)


def test_summary_for_the_report(run):
    d = run["summary"].as_dict()
    assert d["documents in"] == 20000
    assert d["pieces out"] == run["summary"].pieces_out
    assert "stream laposte-li-dl" in d and "EUR" in d["postage"] and "USD" in d["postage"]
    assert run["summary"].near_step > 0 and any("near-step" in w for w in run["summary"].warnings)
    assert run["summary"].householded_documents > 2 * run["summary"].households - 1


def test_plan_is_deterministic_and_replannable(run, tmp_path):
    db = sqlite3.connect(":memory:")
    generate_documents(db, 3000, seed=11)
    cfg = mail.MailConfig.from_dict(CONFIG, tmp_path)
    outputs = []
    for i in range(2):
        mail.plan_mail(db, cfg, "DET", DATE)
        d = tmp_path / str(i)
        mail.write_production_files(db, d, "DET", cfg)
        outputs.append([(d / n).read_bytes() for n in ("DET.mailrun.csv", "DET.postage.csv", "DET.trays.csv")])
    assert outputs[0] == outputs[1]
    assert json.loads(dict(db.execute("SELECT key, value FROM mail_run"))["rule_packs"])["USPS-FCM"]


def test_planning_memory_does_not_grow_with_the_run(tmp_path, monkeypatch):
    """Python-side peak allocation while planning stays flat: rows are streamed through SQLite.

    Mailing minimums are lowered (a rule pack copy) so both runs go through every presort step, and
    write batches are made small so both runs fill them; a Python list of the 6,000 extra documents'
    rows would alone take several MB, while the presort's compact per-piece arrays take ≈ 150 KB.
    """
    import gc
    import tracemalloc
    from ccm_batch.mail import household, plan, presort
    from ccm_batch.mail.sample import low_minimum_rules
    for module in (household, plan, presort):
        monkeypatch.setattr(module, "BATCH", 50)
    rules = low_minimum_rules(tmp_path / "rules")
    cfg = mail.MailConfig.from_dict({"enabled": True, "rules_dir": str(rules)}, ".")
    peaks = []
    for n in (2000, 2000, 8000):
        tries = []
        for _ in range(2):       # the lower of two: what the plan itself allocates, not a stray collection
            db = sqlite3.connect(":memory:")
            generate_documents(db, n, seed=5)
            gc.collect()         # garbage of earlier tests (a Dask cluster's) is not freed while measuring
            tracemalloc.start()
            mail.plan_mail(db, cfg, "MEM", DATE)
            tries.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            db.close()
        peaks.append(min(tries))
    # What may grow: the presort trial engine's per-piece arrays (mail/trial.py, ≈ 24-35 bytes a piece, by
    # design); a Python list of the extra documents' rows would be ≥ 500 bytes a document
    assert peaks[2] - peaks[1] < 6000 * 40, peaks


def test_the_plan_gets_a_larger_page_cache_and_gives_the_connection_its_own_back(tmp_path):
    from ccm_batch.mail import plan
    db = sqlite3.connect(tmp_path / "work.db")
    generate_documents(db, 300, seed=3)
    db.execute("PRAGMA main.cache_size = -1234")
    seen = []
    with plan.plan_cache(db):
        seen.append([db.execute(f"PRAGMA {n}.cache_size").fetchone()[0] for n in ("main", "temp")])
    mail.plan_mail(db, mail.MailConfig.from_dict({"enabled": True}, "."), "CACHE", DATE)
    assert seen == [[-plan.PLAN_CACHE_KIB, -plan.PLAN_CACHE_KIB]]
    assert db.execute("PRAGMA main.cache_size").fetchone()[0] == -1234
    assert db.execute("PRAGMA temp.cache_size").fetchone()[0] == -2000      # SQLite's default
    assert db.execute("SELECT COUNT(*) FROM mail_piece").fetchone()[0] > 0
