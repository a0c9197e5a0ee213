"""History stage: the static KPI dashboard (``ccm-batch dashboard``): one self-contained HTML file.

Charts are drawn by plotly.js, inlined from the plotly Python package (``plotly.offline.get_plotlyjs``:
the library ships its own bundle, so the page needs no server and no internet). Headline numbers are
plain HTML, each marked ``data-kpi="path"`` with the path of its value in ``kpi --format json``; that
JSON is embedded too (``<script id="kpi-data">``) and written beside the page as ``kpi.json``.
"""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

CHANNEL_COLOURS = {"paper": "#4c72b0", "email": "#55a868", "sms": "#c44e52", "portal": "#8172b2"}


def _figure(div_id: str, title: str, traces: list, layout: dict | None = None) -> str:
    import plotly.graph_objects as go
    import plotly.io as pio
    fig = go.Figure(data=traces)
    fig.update_layout(title=title, height=340, margin=dict(l=50, r=20, t=50, b=50), template="plotly_white",
                      **(layout or {}))
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def _num(v):
    return None if v is None else float(v)


def _charts(k: dict) -> list[str]:
    import plotly.graph_objects as go
    runs = [r for r in k["runs"]]
    periods = k["trend"]["periods"]
    dates = [p["job_date"] for p in periods]
    channels = sorted({ch for p in periods for ch in p["by_channel"]})
    charts = [_figure("chart-volumes", "Communications by channel per job date", [
        go.Bar(name=ch, x=dates, y=[p["by_channel"].get(ch, 0) for p in periods],
               marker_color=CHANNEL_COLOURS.get(ch)) for ch in channels],
        {"barmode": "stack", "xaxis": {"type": "category"}})]
    labels = [f"{r['job_date']} {r['job']}" + (" (reprint)" if r["kind"] != "run" else "") for r in runs]
    charts.append(_figure("chart-cost", "Cost per communication and postage savings per run", [
        go.Scatter(name="cost per communication", x=labels, y=[_num(r["cost_per_communication"]) for r in runs],
                   mode="lines+markers"),
        go.Bar(name="postage savings", x=labels, y=[_num(r["postage_savings"]) for r in runs], yaxis="y2",
               opacity=0.5)],
        {"yaxis": {"title": "per communication"}, "yaxis2": {"title": "savings", "overlaying": "y",
                                                             "side": "right"}}))
    charts.append(_figure("chart-rates", "Reject rate and e-delivery share per run (%)", [
        go.Scatter(name="reject rate %", x=labels, mode="lines+markers",
                   y=[round(100 * r["rejected"] / r["records"], 2) if r["records"] else None for r in runs]),
        go.Scatter(name="e-delivery %", x=labels, mode="lines+markers",
                   y=[round(100 * (r["documents"] - r["by_channel"].get("paper", 0)) / r["documents"], 2)
                      if r["documents"] else None for r in runs])], {"yaxis": {"rangemode": "tozero"}}))
    charts.append(_figure("chart-throughput", "Throughput per run (pages per minute; red: finished after the deadline)", [
        go.Bar(name="pages per minute", x=labels, y=[r["pages_per_minute"] for r in runs],
               marker_color=["#55a868" if r["on_time"] in (True, None) else "#c44e52" for r in runs])]))
    last = k.get("last_run")
    if last:
        charts.append(_figure("chart-last-costs", f"Last run ({last['job']} {last['job_date']}): cost by item", [
            go.Bar(x=[f"{c['channel']} {c['item']}" for c in last["costs"]],
                   y=[float(c["amount"]) for c in last["costs"]], marker_color="#8172b2")]))
        charts.append(_figure("chart-last-streams", "Last run: documents by stream", [
            go.Pie(labels=[s["stream"] for s in last["streams"]], values=[s["documents"] for s in last["streams"]],
                   sort=False)]))
    return charts


def _card(label: str, path: str, value, unit: str = "") -> str:
    shown = "–" if value is None else html.escape(str(value))
    return (f'<div class="card"><div class="label">{html.escape(label)}</div>'
            f'<div class="value"><span data-kpi="{html.escape(path)}">{shown}</span> {html.escape(unit)}</div></div>')


def _cards(k: dict) -> str:
    cards = [_card("communications", "volumes.communications", k["volumes"]["communications"]),
             _card("e-delivery adoption", "e_delivery_adoption.pct", k["e_delivery_adoption"]["pct"], "%")]
    for cur, c in k["cost"].items():
        cards.append(_card(f"cost per communication ({cur})", f"cost.{cur}.per_communication",
                           c["per_communication"], cur))
        cards.append(_card(f"total cost ({cur})", f"cost.{cur}.total", c["total"], cur))
    for cur, p in k["postage"].items():
        cards.append(_card(f"postage savings ({cur})", f"postage.{cur}.savings", p["savings"], cur))
        cards.append(_card(f"postage savings % ({cur})", f"postage.{cur}.savings_pct", p["savings_pct"], "%"))
    for ch, d in k["delivery_rate"].items():
        cards.append(_card(f"delivery rate {ch}", f"delivery_rate.{ch}.pct", d["pct"], "%"))
    cards += [_card("returned-mail rate", "returned_mail_rate.pct", k["returned_mail_rate"]["pct"], "%"),
              _card("bounce rate", "bounce_rate.pct", k["bounce_rate"]["pct"], "%"),
              _card("reject rate", "reject_rate.pct", k["reject_rate"]["pct"], "%"),
              _card("on-time completion", "on_time.pct", k["on_time"]["pct"], "%"),
              _card("throughput", "throughput.pages_per_minute", k["throughput"]["pages_per_minute"], "pages/min")]
    return "\n".join(cards)


def _last_run_table(k: dict) -> str:
    last = k.get("last_run")
    if not last:
        return "<p>No run recorded yet.</p>"
    rows = [("job", last["job"]), ("job date", last["job_date"]), ("exit code", last["exit_code"]),
            ("records", last["records"]), ("documents", last["documents"]), ("pages", last["pages"]),
            ("sheets", last["sheets"]), ("pieces", last["pieces"]), ("rejected", last["rejected"]),
            ("postage", f"{last['postage']} {last['currency'] or ''}"),
            ("cost", f"{last['cost_total']} {last['currency'] or ''}")]
    rows += [(f"rejected: {r}", n) for r, n in last["rejects"].items()]
    rows += [(f"phase {p} (s)", s) for p, s in last["phases_s"].items()]
    body = "".join(f"<tr><th>{html.escape(str(a))}</th><td>{html.escape(str(b))}</td></tr>" for a, b in rows)
    return f'<table id="last-run">{body}</table>'


def render_dashboard(k: dict) -> str:
    """The dashboard page of KPIs ``k`` (from :func:`ccm_batch.history.kpi.compute_kpis`)."""
    from plotly.offline import get_plotlyjs
    sel = k["selection"]
    title = "ccm-batch KPIs" + (f" — job {sel['job']}" if sel["job"] else "")
    span = (f"{sel['runs']} run(s), job dates {sel['first_job_date']} … {sel['last_job_date']}" if sel["runs"]
            else "no run recorded")
    data = json.dumps(k, ensure_ascii=False, sort_keys=True).replace("</", "<\\/")
    charts = "\n".join(f'<div class="chart">{c}</div>' for c in _charts(k)) if k["runs"] else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: "DejaVu Sans", Arial, sans-serif; margin: 20px; color: #222; background: #fafafa; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.card {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; min-width: 170px; }}
.card .label {{ font-size: 12px; color: #666; }} .card .value {{ font-size: 20px; font-weight: bold; }}
.charts {{ display: grid; grid-template-columns: 1fr 1fr; gap: 12px; margin-top: 16px; }}
.chart {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; }}
table {{ border-collapse: collapse; background: #fff; }} th, td {{ border: 1px solid #ddd; padding: 3px 8px;
text-align: left; font-size: 13px; }}
</style>
<script>{get_plotlyjs()}</script>
<script type="application/json" id="kpi-data">{data}</script>
</head><body>
<h1>{html.escape(title)}</h1>
<p id="span">{html.escape(span)} — definitions in docs/kpi.md</p>
<div class="cards">{_cards(k)}</div>
<div class="charts">{charts}</div>
<h2>Last run</h2>
{_last_run_table(k)}
</body></html>
"""


def write_dashboard(k: dict, out_dir: Path) -> Path:
    """Write ``index.html`` and ``kpi.json`` into ``out_dir``; returns the page's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / "index.html"
    for path, text in ((out_dir / "kpi.json", json.dumps(k, indent=2, ensure_ascii=False) + "\n"),
                       (page, render_dashboard(k))):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return page
