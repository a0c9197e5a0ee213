"""History stage: KPI queries over the run history (``ccm-batch kpi``), as JSON, CSV or a table.

Every KPI is a ratio or a sum with its numerator and denominator kept (docs/kpi.md defines each).
Money is exact (:class:`~decimal.Decimal`, to the cent, per currency); ratios are percentages with two
decimals (half up), ``null`` when the denominator is 0. Runs are selected by job and by job date
(``since``: job dates on or after it). "Communications" are the documents of runs of kind ``run``
(reprints re-make communications already counted; their cost still counts).
"""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from .record import CENT, FAILURE_KINDS, PAPER, cents

RUN_COLUMNS = ("run_id", "kind", "job", "job_date", "finished_at", "deadline", "on_time", "exit_code", "records",
               "documents", "pages", "sheets", "pieces", "rejected", "warnings", "currency", "postage",
               "postage_single", "postage_baseline", "postage_savings", "cost_total", "duration_s",
               "pages_per_minute", "peak_memory_mb")


def pct(numerator, denominator) -> str | None:
    """numerator / denominator as a percentage string with two decimals, or None."""
    if not denominator:
        return None
    return str((Decimal(numerator) * 100 / Decimal(denominator)).quantize(CENT, rounding=ROUND_HALF_UP))


def ratio(numerator, denominator) -> dict:
    return {"numerator": numerator, "denominator": denominator, "pct": pct(numerator, denominator)}


def _where(job: str | None, since: str | None, alias: str = "r") -> tuple[str, list]:
    clauses, params = [], []
    if job:
        clauses.append(f"{alias}.job = ?")
        params.append(job)
    if since:
        clauses.append(f"{alias}.job_date >= ?")
        params.append(since)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _runs(store, job, since) -> list[dict]:
    where, params = _where(job, since)
    rows = store.query(f"SELECT {', '.join('r.' + c for c in RUN_COLUMNS)} FROM runs r{where} "
                       "ORDER BY r.job_date, r.finished_at, r.run_id", params)
    return [dict(zip(RUN_COLUMNS, row)) for row in rows]


def _joined(store, table: str, columns: str, job, since) -> list[tuple]:
    where, params = _where(job, since)
    return store.query(f"SELECT x.run_id, {columns} FROM {table} x JOIN runs r ON r.run_id = x.run_id{where} "
                       f"ORDER BY x.run_id, {columns}", params)


def compute_kpis(store, job: str | None = None, since: str | None = None) -> dict:
    """The KPIs of the selected runs (see the module docstring and docs/kpi.md)."""
    runs = _runs(store, job, since)
    by_id = {r["run_id"]: r for r in runs}
    comms = [r for r in runs if r["kind"] == "run"]
    comm_ids = {r["run_id"] for r in comms}

    # volumes by channel, per run and in total (communications only)
    run_channels: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    pieces_by_channel: dict[str, int] = defaultdict(int)
    for run_id, channel, docs, pieces in _joined(store, "run_volumes", "x.channel, x.documents, x.pieces",
                                                 job, since):
        run_channels[run_id][channel] += docs
        if run_id in comm_ids:
            pieces_by_channel[channel] += pieces
    volumes: dict[str, int] = defaultdict(int)
    for r in comms:
        for ch, n in run_channels[r["run_id"]].items():
            volumes[ch] += n
    total_docs = sum(volumes.values())

    # trend: communications by channel per job date
    periods: dict[str, dict] = {}
    for r in comms:
        p = periods.setdefault(r["job_date"], defaultdict(int))
        for ch, n in run_channels[r["run_id"]].items():
            p[ch] += n
    trend = [{"job_date": d, "total": sum(p.values()), "by_channel": dict(sorted(p.items()))}
             for d, p in sorted(periods.items())]
    change = pct(trend[-1]["total"] - trend[-2]["total"], trend[-2]["total"]) if len(trend) >= 2 else None

    # money per currency
    money: dict[str, dict] = {}
    for r in runs:
        cur = r["currency"] or "-"
        m = money.setdefault(cur, {"postage": Decimal(0), "baseline": Decimal(0), "single": Decimal(0),
                                   "cost": Decimal(0), "communications": 0, "by_channel": defaultdict(Decimal),
                                   "by_item": defaultdict(Decimal)})
        m["postage"] += Decimal(r["postage"] or 0)
        m["baseline"] += Decimal(r["postage_baseline"] or 0)
        m["single"] += Decimal(r["postage_single"] or 0)
        m["cost"] += Decimal(r["cost_total"] or 0)
        if r["kind"] == "run":
            m["communications"] += r["documents"]
    for run_id, channel, item, amount in _joined(store, "run_costs", "x.channel, x.item, x.amount", job, since):
        m = money[by_id[run_id]["currency"] or "-"]
        m["by_channel"][channel] += Decimal(amount)
        m["by_item"][item] += Decimal(amount)
    costs, postage = {}, {}
    for cur, m in sorted(money.items()):
        savings = m["baseline"] - m["postage"]
        postage[cur] = {"postage": str(cents(m["postage"])), "baseline": str(cents(m["baseline"])),
                        "savings": str(cents(savings)), "savings_pct": pct(savings, m["baseline"]),
                        "presort_savings": str(cents(m["single"] - m["postage"]))}
        costs[cur] = {"total": str(cents(m["cost"])), "communications": m["communications"],
                      "per_communication": str(cents(m["cost"] / m["communications"])) if m["communications"]
                      else None,
                      "by_channel": {k: str(cents(v)) for k, v in sorted(m["by_channel"].items())},
                      "per_document_by_channel": {
                          k: (str(cents(v / volumes[k])) if volumes.get(k) else None)
                          for k, v in sorted(m["by_channel"].items())},
                      "by_item": {k: str(cents(v)) for k, v in sorted(m["by_item"].items())}}

    # delivery, returned mail, bounces (events of communications' documents)
    failed: dict[str, set] = defaultdict(set)
    delivered: dict[str, set] = defaultdict(set)
    by_kind: dict[tuple, set] = defaultdict(set)
    for run_id, doc_id, kind, channel in _joined(store, "events", "x.doc_id, x.kind, x.channel", job, since):
        if run_id not in comm_ids:
            continue
        key = (run_id, doc_id)
        channel = channel or PAPER
        by_kind[(channel, kind)].add(key)
        if kind in FAILURE_KINDS:
            failed[channel].add(key)
        elif kind == "delivered":
            delivered[channel].add(key)
    delivery = {ch: dict(ratio(n - len(failed[ch]), n), confirmed=ratio(len(delivered[ch] - failed[ch]), n))
                for ch, n in sorted(volumes.items())}

    # rejects, on time, throughput
    records = sum(r["records"] for r in comms)
    rejected = sum(r["rejected"] for r in comms)
    reasons: dict[str, int] = defaultdict(int)
    for run_id, reason, count in _joined(store, "run_rejects", "x.reason, x.count", job, since):
        if run_id in comm_ids:
            reasons[reason] += count
    timed = [r for r in runs if r["on_time"] is not None]
    pages = sum(r["pages"] for r in runs)
    seconds = sum((Decimal(repr(r["duration_s"] or 0.0)) for r in runs), Decimal(0))

    last = runs[-1] if runs else None
    return {
        "selection": {"job": job, "since": since, "runs": len(runs), "communication_runs": len(comms),
                      "first_job_date": runs[0]["job_date"] if runs else None,
                      "last_job_date": last["job_date"] if last else None},
        "volumes": {"communications": total_docs, "by_channel": dict(sorted(volumes.items())),
                    "paper_pieces": pieces_by_channel.get(PAPER, 0)},
        "trend": {"periods": trend, "last_vs_previous_pct": change},
        "e_delivery_adoption": ratio(total_docs - volumes.get(PAPER, 0), total_docs),
        "postage": postage,
        "cost": costs,
        "delivery_rate": delivery,
        "returned_mail_rate": ratio(len(by_kind[(PAPER, "returned")]), volumes.get(PAPER, 0)),
        "bounce_rate": ratio(len(by_kind[("email", "bounced")]), volumes.get("email", 0)),
        "reject_rate": dict(ratio(rejected, records),
                            by_reason={k: ratio(v, records) for k, v in sorted(reasons.items())}),
        "on_time": ratio(sum(r["on_time"] for r in timed), len(timed)),
        "throughput": {"pages": pages, "seconds": str(seconds.quantize(Decimal("0.001"))),
                       "pages_per_minute": int((Decimal(pages) * 60 / seconds).to_integral_value(ROUND_HALF_UP))
                       if seconds else None},
        "runs": [_run_entry(r, run_channels[r["run_id"]]) for r in runs],
        "last_run": _last_run(store, last, run_channels[last["run_id"]]) if last else None,
    }


def _last_run(store, r: dict, channels: dict) -> dict:
    """The breakdown of one run: streams, cost lines, rejects, warnings and phases."""
    rid = (r["run_id"],)
    return dict(_run_entry(r, channels), streams=[
        {"stream": s, "channel": ch, "pieces": p, "documents": d, "pages": pg, "sheets": sh, "postage": post}
        for s, ch, p, d, pg, sh, post in store.query(
            "SELECT stream, channel, pieces, documents, pages, sheets, postage FROM run_volumes WHERE run_id = ? "
            "ORDER BY stream, channel", rid)],
        costs=[{"channel": ch, "item": item, "quantity": q, "amount": a} for ch, item, q, a in store.query(
            "SELECT channel, item, quantity, amount FROM run_costs WHERE run_id = ? ORDER BY channel, item", rid)],
        rejects=dict(store.query("SELECT reason, count FROM run_rejects WHERE run_id = ? ORDER BY reason", rid)),
        warnings=dict(store.query("SELECT kind, count FROM run_warnings WHERE run_id = ? ORDER BY kind", rid)),
        phases_s=dict(store.query("SELECT phase, seconds FROM run_phases WHERE run_id = ? ORDER BY phase", rid)))


def _run_entry(r: dict, channels: dict) -> dict:
    per_comm = (str(cents(Decimal(r["cost_total"]) / r["documents"]))
                if r["documents"] and r["cost_total"] is not None else None)
    return {"run_id": r["run_id"], "kind": r["kind"], "job": r["job"], "job_date": r["job_date"],
            "exit_code": r["exit_code"], "records": r["records"], "documents": r["documents"],
            "pages": r["pages"], "sheets": r["sheets"], "pieces": r["pieces"], "rejected": r["rejected"],
            "warnings": r["warnings"], "by_channel": dict(sorted(channels.items())), "currency": r["currency"],
            "postage": r["postage"], "postage_savings": r["postage_savings"],
            "postage_savings_pct": pct(Decimal(r["postage_savings"] or 0), Decimal(r["postage_baseline"] or 0)),
            "cost_total": r["cost_total"], "cost_per_communication": per_comm,
            "on_time": None if r["on_time"] is None else bool(r["on_time"]), "deadline": r["deadline"],
            "finished_at": r["finished_at"], "duration_s": r["duration_s"],
            "pages_per_minute": r["pages_per_minute"], "peak_memory_mb": r["peak_memory_mb"]}


# -- output --------------------------------------------------------------------------------------

def flat_rows(k: dict) -> list[tuple]:
    """(kpi, dimension, numerator, denominator, value, unit) rows for the table and CSV formats."""
    rows = [("communications", "all", "", "", k["volumes"]["communications"], "documents")]
    rows += [("volume", ch, "", "", n, "documents") for ch, n in k["volumes"]["by_channel"].items()]
    rows += [("volume trend", "last vs previous job date", "", "", k["trend"]["last_vs_previous_pct"], "%")]
    rows += [("volume", f"{p['job_date']} {ch}", "", "", n, "documents")
             for p in k["trend"]["periods"] for ch, n in p["by_channel"].items()]

    def r(name, dim, d):
        return (name, dim, d["numerator"], d["denominator"], d["pct"], "%")
    rows.append(r("e-delivery adoption", "non-paper / all", k["e_delivery_adoption"]))
    for cur, p in k["postage"].items():
        rows += [("postage", cur, "", "", p["postage"], cur),
                 ("postage savings", cur, "", "", p["savings"], cur),
                 ("postage savings", f"{cur} of baseline", p["savings"], p["baseline"], p["savings_pct"], "%")]
    for cur, c in k["cost"].items():
        rows += [("cost", cur, "", "", c["total"], cur),
                 ("cost per communication", cur, c["total"], c["communications"], c["per_communication"], cur)]
        rows += [("cost", f"{cur} {ch}", "", "", v, cur) for ch, v in c["by_channel"].items()]
        rows += [("cost per document", f"{cur} {ch}", "", "", v, cur)
                 for ch, v in c["per_document_by_channel"].items()]
    rows += [r("delivery rate", ch, d) for ch, d in k["delivery_rate"].items()]
    rows += [r("returned-mail rate", "paper", k["returned_mail_rate"]), r("bounce rate", "email", k["bounce_rate"]),
             r("reject rate", "all", k["reject_rate"])]
    rows += [r("reject rate", reason, d) for reason, d in k["reject_rate"]["by_reason"].items()]
    rows += [r("on-time completion", "runs with a deadline", k["on_time"]),
             ("throughput", "pages per minute", k["throughput"]["pages"], k["throughput"]["seconds"],
              k["throughput"]["pages_per_minute"], "pages/min")]
    return rows


def format_kpis(k: dict, fmt: str) -> str:
    """``k`` as ``json``, ``csv`` or ``table`` text."""
    if fmt == "json":
        return json.dumps(k, indent=2, ensure_ascii=False) + "\n"
    rows = flat_rows(k)
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["kpi", "dimension", "numerator", "denominator", "value", "unit"])
        w.writerows([[("" if v is None else v) for v in row] for row in rows])
        return out.getvalue()
    sel = k["selection"]
    head = (f"KPIs — {sel['runs']} run(s)" + (f" of job {sel['job']}" if sel["job"] else "")
            + (f", job dates {sel['first_job_date']} … {sel['last_job_date']}" if sel["runs"] else ""))
    widths = [max(len(str(row[i] if row[i] is not None else "-")) for row in rows) for i in range(6)]
    lines = [head, "=" * len(head)]
    for row in rows:
        kpi, dim, num, den, value, unit = ("-" if v is None else str(v) for v in row)
        frac = f"({num} / {den})" if num != "" else ""
        lines.append(f"{kpi:<{widths[0]}}  {dim:<{widths[1]}}  {value:>{widths[4]}} {unit:<9} {frac}".rstrip())
    return "\n".join(lines) + "\n"
