"""report.md and report.html of `lowdata auto` (lowdata.methods.auto): every candidate's CV score with its interval
and time, the choice and the reason, the estimate of the final model, and its test score when a test file was given."""
from __future__ import annotations

import base64
import html
import io
import os

from .. import runs


def _rows(result):
    for c in sorted(result["candidates"], key=lambda c: -c.get("cv_accuracy", -1)):
        if "cv_accuracy" in c:
            lo, hi = c["interval"]
            yield c, (f"{c['cv_accuracy']:.4f}", f"[{lo:.3f}, {hi:.3f}]", f"{c['macro_f1']:.4f}",
                      f"{c['cells']} ({c['repeats']} rep.)", f"{c['seconds_per_cell']:.1f}")
        else:
            yield c, ("-", "-", "-", "0", "-")


def markdown(result) -> str:
    ch, est = result["chosen"], result["estimate"]
    lo, hi = est["interval"]
    out = ["# lowdata auto", "",
           f"**Chosen: {ch['recipe']} on {ch['backbone']}** ({' '.join(ch['overrides'])}). {result['reason']}.", "",
           f"Estimated accuracy of the final model: **{est['accuracy']:.4f}** (95% interval {lo:.3f}-{hi:.3f}; "
           f"{est['caveat']}).", ""]
    if result.get("test"):
        t = result["test"]
        out += [f"Test file ({t['n']} texts, never used for any choice): accuracy **{t['accuracy']:.4f}**, "
                f"macro F1 {t['macro_f1']:.4f}.", ""]
    vs = result.get("vs_finetune")
    if vs:
        out += [f"Versus plain fine-tuning (CV accuracy {vs['finetune_cv_accuracy']:.4f}): "
                f"{vs['gain_points']:+.1f} points.", ""]
    if result.get("worth"):
        from .auto_worth import describe

        out += [describe(result["worth"]), ""]
    pool = result.get("pool") or {}
    if pool.get("total"):
        out += [f"Unlabeled pool: {pool['used']:,} texts" + (f" (a seeded sample of {pool['total']:,}; raise "
                f"--max-pool to use more)" if pool["used"] < pool["total"] else "") + ".", ""]
    out += [f"Labels: {result['labels']} (every decision used these and nothing else; {result['k']}-fold CV). "
            f"Time: {result['total_seconds']:.0f} s of a {result['budget_seconds']:.0f} s budget "
            f"(final training {result['final_seconds']:.0f} s)." + _rates(result.get("rates")), "",
            "| recipe | backbone | CV accuracy | 95% interval | macro F1 | folds | s / fold | status |",
            "|---|---|---:|---|---:|---:|---:|---|"]
    for c, cells in _rows(result):
        out.append(f"| {c['recipe']} | {c['backbone']} | " + " | ".join(cells) + f" | {c['status']} |")
    out += ["", "Final model: `final/` (the winner's run directory" +
            (", with `model/` for `lowdata predict`)." if ch["inductive"] else
             "; a transductive graph method: it labels the texts it saw, see final/predictions.jsonl).")]
    if result.get("student"):
        from .auto_distill import describe

        out += ["", describe(result["student"], ch["backbone"])]
    return "\n".join(out) + "\n"


def _plot_png(result) -> bytes | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [c for c in result["candidates"] if "cv_accuracy" in c][::-1]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    ys = range(len(rows))
    acc = [c["cv_accuracy"] for c in rows]
    err = [[a - c["interval"][0] for a, c in zip(acc, rows)], [c["interval"][1] - a for a, c in zip(acc, rows)]]
    colors = ["tab:green" if c["status"] == "chosen" else "tab:blue" for c in rows]
    ax.barh(list(ys), acc, xerr=err, color=colors, alpha=0.8)
    ax.set_yticks(list(ys), [f"{c['recipe']} / {c['backbone']}" for c in rows], fontsize=8)
    ax.set_xlabel("cross-validated accuracy (95% interval)")
    ax.set_xlim(0, 1)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_reports(out: str, result) -> None:
    md = markdown(result)
    runs.write_text(os.path.join(out, "report.md"), md)
    png = _plot_png(result)
    body = ["<!doctype html><meta charset='utf-8'><title>lowdata auto</title>",
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px}td:nth-child(n+3){text-align:right}</style>",
            f"<h1>lowdata auto</h1><p><b>Chosen: {html.escape(result['chosen']['recipe'])} on "
            f"{html.escape(result['chosen']['backbone'])}</b>. {html.escape(result['reason'])}.</p>"]
    est = result["estimate"]
    body.append(f"<p>Estimated accuracy {est['accuracy']:.4f} (95% interval {est['interval'][0]:.3f}-"
                f"{est['interval'][1]:.3f}; {html.escape(est['caveat'])}).</p>")
    if result.get("test"):
        body.append(f"<p>Test accuracy {result['test']['accuracy']:.4f} on {result['test']['n']} texts.</p>")
    body.append(f"<p>Time: {result['total_seconds']:.0f} s of a {result['budget_seconds']:.0f} s budget (final "
                f"training {result['final_seconds']:.0f} s).{html.escape(_rates(result.get('rates')))}</p>")
    if result.get("student"):
        from .auto_distill import describe

        body.append(f"<p>{html.escape(describe(result['student'], result['chosen']['backbone']))}</p>")
    if png:
        body.append(f"<img alt='CV accuracy per candidate' src='data:image/png;base64,"
                    f"{base64.b64encode(png).decode()}'>")
    body.append("<table><tr><th>recipe</th><th>backbone</th><th>CV accuracy</th><th>95% interval</th>"
                "<th>macro F1</th><th>folds</th><th>s / fold</th><th>status</th></tr>")
    for c, cells in _rows(result):
        body.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (c["recipe"], c["backbone"], *cells,
                                                                                   c["status"])) + "</tr>")
    body.append("</table>")
    runs.write_text(os.path.join(out, "report.html"), "\n".join(body) + "\n")


def _rates(rates) -> str:
    """The training speed measured at the start (auto_rate.py): what the first tuned candidates were priced by."""
    if not rates:
        return ""
    return (" Training speed measured on this machine before any tuned cell (what those were first priced by): " +
            ", ".join(f"{b.replace(' pairs', ' (SetFit pairs)')} {v * 1000:.1f} ms" for b, v in rates.items()) +
            " per example.")
