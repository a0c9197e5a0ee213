"""Mail stage tests: presort on small hand-built mailings (levels, minimums, trays, overflow policies,
cost-based choice, bundles) and rule packs as data (a tmp copy changes the plan, dated versions)."""
import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from ccm_batch import mail
from ccm_batch.errors import ConfigError
from ccm_batch.mail.sample import document_row, insert_documents

RULES = Path(mail.__file__).parent / "rules"
DATE = "2026-01-15"


def us_mailing(specs):
    """specs: (count, zip5, sheets). Each document its own customer: no householding."""
    rows, seq = [], 0
    for count, zip5, sheets in specs:
        for i in range(count):
            seq += 1
            rows.append(document_row(seq, country="US", postcode=f"{zip5}-{i % 9999:04d}-{i % 97:02d}",
                                     recipient_name=f"JOHN DOE {seq}", sheets=sheets, page_width=12240,
                                     page_height=15840))
    db = sqlite3.connect(":memory:")
    insert_documents(db, rows)
    return db


def fr_mailing(specs):
    rows, seq = [], 0
    for count, pc, sheets in specs:
        for i in range(count):
            seq += 1
            rows.append(document_row(seq, postcode=pc, recipient_name=f"M JEAN MARTIN {seq}", sheets=sheets,
                                     address=[f"M JEAN MARTIN {seq}", f"{i + 1} RUE DES LILAS", f"{pc} VILLE"]))
    db = sqlite3.connect(":memory:")
    insert_documents(db, rows)
    return db


def pieces(db, stream):
    return db.execute("SELECT seq, level, rate_level, dest, tray_no, rolled, pc, price, sheets, bundle_no "
                      "FROM mail_piece WHERE stream = ? ORDER BY seq", (stream,)).fetchall()


# 200 light pieces to one ZIP (one 1-ft tray), 450 heavy (8-sheet) pieces to another (2 full 2-ft trays
# + a 56-piece overflow), 100 light pieces elsewhere in the same AADC, 30 to a ZIP outside the AADC table.
SPECS = [(200, "10001", 1), (450, "60614", 8), (100, "60615", 1), (30, "33101", 1)]


def plan(db, policy="cheapest", **extra):
    cfg = mail.MailConfig.from_dict({"enabled": True, "policy": policy, **extra}, ".")
    summary = mail.plan_mail(db, cfg, "T", DATE)
    return cfg, summary


def test_levels_trays_and_container_sizes():
    db = us_mailing(SPECS)
    plan(db, "overflow")
    rows = pieces(db, "usps-fcm-us10")
    assert len(rows) == 780
    by = Counter((r[1], r[3]) for r in rows)
    assert by[("5D", "10001")] == 200 and by[("5D", "60614")] == 450
    assert by[("MXD", "ALL")] == 130          # 100 pieces for AADC 606 are below its 150 minimum
    trays = db.execute("SELECT tray_no, level, dest, size, overflow, pieces FROM mail_tray ORDER BY tray_no").fetchall()
    assert [(t[1], t[2], t[3], t[4], t[5]) for t in trays] == [
        ("5D", "10001", "1FT", 0, 200),          # all the mail for the ZIP fits in 1 ft
        ("5D", "60614", "2FT", 0, 197), ("5D", "60614", "2FT", 0, 197),
        ("5D", "60614", "1FT", 1, 56),           # overflow tray kept at 5-digit
        ("MXD", "ALL", "1FT", 0, 130)]
    assert [r[4] for r in rows] == sorted(r[4] for r in rows)
    label = db.execute("SELECT label FROM mail_tray WHERE tray_no = 1").fetchone()[0]
    assert label == "FCM LTR 5D BC 10001"


def test_overflow_policies_and_cheapest_choice():
    results = {}
    for policy in ("none", "overflow", "rollup"):
        db = us_mailing(SPECS)
        plan(db, policy)
        results[policy] = (db, pieces(db, "usps-fcm-us10"))
    none = Counter((r[1], r[2]) for r in results["none"][1])
    assert none[("AADC", "AADC")] == 156                       # overflow carried down, pays AADC
    roll = results["rollup"][1]
    rolled = [r for r in roll if r[5]]
    assert len(rolled) == 56 and all(r[1] == "AADC" and r[2] == "5D" for r in rolled)
    aadc_tray = [r for r in roll if r[1] == "AADC"]
    assert aadc_tray[:56] == rolled                            # rolled-up pieces at the front of the tray
    db = us_mailing(SPECS)
    cfg, summary = plan(db)
    kind, policy, costs = db.execute("SELECT kind, policy, costs FROM mail_stream "
                                     "WHERE name = 'usps-fcm-us10'").fetchone()
    costs = json.loads(costs)
    # five trays in every plan. 8-sheet letters weigh 2 oz: with "none" the 56 overflow pieces pay AADC
    # instead of 5D; with "overflow" the 100 light AADC-606 pieces miss the AADC minimum and pay MXD
    assert costs["none"] - costs["rollup"] == pytest.approx(56 * (0.628 - 0.598), abs=1e-6)
    assert costs["overflow"] - costs["rollup"] == pytest.approx(100 * (0.450 - 0.428), abs=1e-6)
    assert (kind, policy) == ("presort", "rollup")
    assert pieces(db, "usps-fcm-us10") == roll


def test_mailing_minimum_downgrades_to_single_piece():
    db = us_mailing([(499, "10001", 1)])
    plan(db)
    rows = pieces(db, "usps-fcm-us10")
    assert {r[1] for r in rows} == {"SINGLE"} and {r[7] for r in rows} == {0.58}
    assert db.execute("SELECT kind, note FROM mail_stream").fetchone() == (
        "single", "499 pieces below the mailing minimum of 500: single-piece prices")
    db = us_mailing([(500, "10001", 1)])
    plan(db)
    assert {r[1] for r in pieces(db, "usps-fcm-us10")} == {"5D"}


def test_laposte_local_deposit_minimum():
    db = fr_mailing([(250, "69003", 1), (200, "69100", 1)])       # 450 pieces, one département
    plan(db)
    kind, note = db.execute("SELECT kind, note FROM mail_stream").fetchone()
    assert kind == "presort" and "fr_dept 69" in note
    assert Counter(r[1] for r in pieces(db, "laposte-li-dl")) == {"CP_DIRECT": 450}
    db = fr_mailing([(250, "69003", 1), (200, "38100", 1)])       # 450 pieces, two départements
    plan(db)
    assert db.execute("SELECT kind FROM mail_stream").fetchone()[0] == "single"


def test_laposte_levels_and_bundles():
    db = fr_mailing([(250, "75011", 1), (40, "59000", 1), (40, "59100", 1), (30, "59200", 1), (700, "13008", 1),
                     (20, "2A004", 1), (5, "20200", 1)])
    plan(db)
    rows = pieces(db, "laposte-li-dl")
    levels = Counter((r[1], r[3]) for r in rows)
    assert levels == {("CP_DIRECT", "13008"): 700, ("CP_DIRECT", "75011"): 250, ("DEPT", "59"): 110,
                      ("NATIONAL", "ALL"): 5}
    # "2A004" is a département code, not a code postal: exception stream
    assert db.execute("SELECT COUNT(*), MIN(reason) FROM mail_piece WHERE stream = 'invalid'").fetchone() == (
        20, "postcode '2A004' is not a valid code postal")
    bundles = Counter(r[9] for r in rows if r[3] == "75011")
    assert sorted(bundles.values()) == [50, 100, 100]             # liasses of at most 100 per CP
    dept59 = [r for r in rows if r[3] == "59"]
    assert [r[6] for r in dept59] == sorted(r[6] for r in dept59)
    assert sorted(Counter(r[9] for r in dept59).values()) == [30, 40, 40]   # one liasse per CP in the bac
    # 700 one-sheet DL pieces (0.6 mm) in 400 mm bacs: 666 + an overflow bac of 34, kept because carrying
    # 34 pieces to NATIONAL (+0.11 each) costs more than a bac (1.50)
    trays = db.execute("SELECT level, dest, pieces, overflow FROM mail_tray ORDER BY tray_no").fetchall()
    assert trays == [("CP_DIRECT", "13008", 666, 0), ("CP_DIRECT", "13008", 34, 1), ("CP_DIRECT", "75011", 250, 0),
                     ("DEPT", "59", 110, 0), ("NATIONAL", "ALL", 5, 0)]
    policy, costs = db.execute("SELECT policy, costs FROM mail_stream WHERE name = 'laposte-li-dl'").fetchone()
    costs = json.loads(costs)
    assert policy == "overflow"
    assert costs["none"] - costs["overflow"] == pytest.approx(34 * (0.72 - 0.61) - 1.50, abs=1e-6)


def test_corsica_departement_keys():
    from ccm_batch.mail.rules import fr_departement
    assert fr_departement("20000") == "2A" and fr_departement("20200") == "2B"
    assert fr_departement("97400") == "974" and fr_departement("75011") == "75"
    assert fr_departement("75011", split_plm=True) == "75011" and fr_departement("7501") is None


def copy_rules(tmp_path):
    d = tmp_path / "rules"
    shutil.copytree(RULES, d)
    return d


def test_price_change_in_a_rule_pack_copy_changes_the_plan(tmp_path):
    db = us_mailing(SPECS)
    _, before = plan(db, "overflow")
    n5 = db.execute("SELECT COUNT(*) FROM mail_piece WHERE rate_level = '5D'").fetchone()[0]
    rules = copy_rules(tmp_path)
    p = rules / "usps_fcm_letters_2025.toml"
    p.write_text(p.read_text().replace("5D = [0.398, 0.598, 0.798, 0.998]", "5D = [0.298, 0.498, 0.698, 0.898]"))
    _, after = plan(db, "overflow", rules_dir=str(rules))
    assert n5 == 650
    assert before.postage["USD"] - after.postage["USD"] == pytest.approx(0.1 * n5, abs=0.01)


def test_threshold_change_in_a_rule_pack_copy_changes_the_plan(tmp_path):
    rules = copy_rules(tmp_path)
    p = rules / "usps_fcm_letters_2025.toml"
    text = p.read_text()
    p.write_text(text.replace('key = "prefix:5"\nmin_pieces = 150', 'key = "prefix:5"\nmin_pieces = 250'))
    db = us_mailing(SPECS)
    plan(db, "overflow", rules_dir=str(rules))
    levels = Counter((r[1], r[3]) for r in pieces(db, "usps-fcm-us10"))
    assert levels[("AADC", "100")] == 200 and levels[("5D", "60614")] == 450
    # weight-dependent minimum: light groups need 300 pieces, heavier ones 150
    p.write_text(text.replace('key = "prefix:5"\nmin_pieces = 150',
                              'key = "prefix:5"\nmin_pieces = 150\nmin_pieces_by_weight = [[1, 300]]'))
    plan(db, "overflow", rules_dir=str(rules))
    levels = Counter((r[1], r[3]) for r in pieces(db, "usps-fcm-us10"))
    assert levels[("AADC", "100")] == 200 and levels[("5D", "60614")] == 450
    # mailing minimum raised above the mailing: everything single-piece
    p.write_text(text.replace("mailing_min = 500", "mailing_min = 5000"))
    plan(db, "overflow", rules_dir=str(rules))
    assert {r[1] for r in pieces(db, "usps-fcm-us10")} == {"SINGLE"}


def test_pack_version_chosen_by_job_date(tmp_path):
    rules = copy_rules(tmp_path)
    text = (rules / "usps_fcm_letters_2025.toml").read_text()
    (rules / "usps_fcm_letters_2025.toml").write_text(text.replace("valid_to = 2027-12-31", "valid_to = 2025-12-31"))
    (rules / "usps_fcm_letters_2026.toml").write_text(
        text.replace('version = "2025.1-illustrative"', 'version = "2026.1"')
            .replace("valid_from = 2025-01-01", "valid_from = 2026-01-01")
            .replace("MXD = [0.450, 0.650, 0.850, 1.050]", "MXD = [0.470, 0.670, 0.870, 1.070]"))
    book = mail.load_rulebook([rules], "2025-12-31")
    assert book.packs["USPS-FCM"].version == "2025.1-illustrative"
    book = mail.load_rulebook([rules], "2026-01-15")
    assert book.packs["USPS-FCM"].version == "2026.1"
    assert book.packs["USPS-FCM"].shapes["letter"].rates.prices["MXD"][0] == 0.470
    assert "USPS-FCM" not in mail.load_rulebook([rules], "2029-01-01").packs


def test_bad_rule_pack_is_a_config_error(tmp_path):
    rules = copy_rules(tmp_path)
    p = rules / "usps_fcm_letters_2025.toml"
    p.write_text(p.read_text().replace("MXD = [0.450, 0.650, 0.850, 1.050]", "MXD = [0.450, 0.650]"))
    with pytest.raises(ConfigError, match="one price per step"):
        mail.load_rulebook([rules], DATE)
    p.write_text(p.read_text().replace('key = "const"', 'key = "prefix:9x"'))
    with pytest.raises(ConfigError):
        mail.load_rulebook([rules], DATE)


def _plan_cost(db, stream="usps-fcm-us10", handling=2.00):
    """The plan's cost recomputed from what it wrote: prices of the pieces + handling per tray."""
    postage = db.execute("SELECT SUM(price) FROM mail_piece WHERE stream = ?", (stream,)).fetchone()[0]
    trays = db.execute("SELECT COUNT(*) FROM mail_tray WHERE stream = ?", (stream,)).fetchone()[0]
    return round(postage + trays * handling, 6)


def test_overflow_policy_chosen_per_level_when_cheaper():
    """Issue 11 item 7. 5-digit 10001: two full trays + 140 pieces (an overflow tray beats paying MXD for
    them); AADC 606: 404 pieces from five ZIPs under the 5-digit minimum, two full trays + 10 (carrying
    10 pieces to the mixed-AADC tray that 30 pieces for Miami fill anyway, +0.22, beats a $2 tray). No
    single policy gets both; per level does."""
    specs = [(534, "10001", 8)] + [(81, z, 8) for z in ("60701", "60702", "60703", "60704")] + \
        [(80, "60705", 8), (30, "33101", 8)]
    db = us_mailing(specs)
    plan(db)
    policy, costs = db.execute("SELECT policy, costs FROM mail_stream WHERE name = 'usps-fcm-us10'").fetchone()
    costs = json.loads(costs)
    best_single = min(costs[p] for p in ("none", "overflow", "rollup"))
    assert costs["per_level"] == {"5D": "overflow", "AADC": "none"} and costs["per_group"] == {}
    assert costs["saving"] == pytest.approx(2.00 - 10 * (0.650 - 0.628), abs=1e-6)
    assert costs["chosen"] == pytest.approx(best_single - costs["saving"], abs=1e-6) == _plan_cost(db)
    assert policy == "5D:overflow AADC:none"
    for single in ("overflow", "none"):                  # each single policy costs more, as written
        other = us_mailing(specs)
        plan(other, single)
        assert _plan_cost(other) > costs["chosen"] + 1.5


def test_overflow_policy_chosen_per_group_when_cheaper():
    """Two 5-digit groups with overflow trays want different options: 60614's 20 overflow pieces roll
    up into the qualifying AADC 606 tray (5-digit price, no tray), 10001's 140 keep their tray (AADC 100
    would not qualify: MXD). Same level, so only a per-group choice saves the $2.00 tray."""
    specs = [(414, "60614", 8), (80, "60701", 8), (80, "60702", 8), (534, "10001", 8)]
    db = us_mailing(specs)
    summary = plan(db)[1]
    policy, costs = db.execute("SELECT policy, costs FROM mail_stream WHERE name = 'usps-fcm-us10'").fetchone()
    costs = json.loads(costs)
    assert costs["per_group"] == {"5D:60614": "rollup"} or costs["per_group"] == {"5D:10001": "overflow"}
    assert costs["saving"] == pytest.approx(2.00, abs=1e-6)
    assert costs["chosen"] == _plan_cost(db)
    assert policy.endswith("+1 group(s)")
    rows = pieces(db, "usps-fcm-us10")
    assert sum(1 for r in rows if r[5]) == 20                       # the 20 rolled-up pieces
    assert db.execute("SELECT COUNT(*) FROM mail_tray WHERE overflow = 1").fetchone()[0] == 1
    assert "saves USD 2.00" in summary.as_dict()["stream usps-fcm-us10"]
