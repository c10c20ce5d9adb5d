"""The claim section of a report: the claimed figures, the measured ones by both methods, the verdict."""

from __future__ import annotations

from html import escape
from typing import Any

from fwbench.units import format_milliseconds


def _with_interval(value: float, low: Any, high: Any) -> str:
    if low is None or high is None:
        return f"{value:.3g}x (no interval)"
    return f"{value:.3g}x ({low:.3g}-{high:.3g})"


def claim_rows(summary: dict[str, Any]) -> list[list[str]]:
    claim, numbers = summary["claim"], summary["numbers"]
    rows: list[list[str]] = []
    if claim["evaluation"] == "speedup":
        base, subject = claim["baseline"], claim["subject"]
        rows.append(["claimed", f"{base['series']} on {base['device']}: {format_milliseconds(base.get('seconds'))}",
                     f"{subject['series']} on {subject['device']}: {format_milliseconds(subject.get('seconds'))}",
                     f"{claim.get('ratio')}x"])
        for device, ratio in numbers.get("ratios", {}).items():
            rows.append([f"measured, fwbench method (median), {subject['series']} on {device}",
                         format_milliseconds(numbers.get("baseline_median_s")),
                         format_milliseconds(ratio.get("subject_median_s")),
                         _with_interval(ratio["fwbench"], ratio.get("low"), ratio.get("high"))])
            if ratio.get("timeit"):
                rows.append([f"measured, source's method (best of 5), {subject['series']} on {device}",
                             format_milliseconds(numbers.get("baseline_timeit_s")),
                             format_milliseconds(ratio.get("subject_timeit_s")),
                             f"{ratio['timeit']:.3g}x"])
        for series, fraction in numbers.get("bound_fraction", {}).items():
            rows.append([f"{series}: share of the memory-bandwidth bound", "", "", f"{fraction:.0%}"])
    else:
        for size, entry in numbers.get("sizes", {}).items():
            rows.append([size, format_milliseconds(entry.get("base_s")), format_milliseconds(entry.get("subject_s")),
                         _with_interval(entry["speedup"], entry.get("low"), entry.get("high")),
                         f"{(entry.get('unfused_bytes') or 0) / 1e6:.4g} MB",
                         f"{(entry.get('fused_bytes') or 0) / 1e6:.4g} MB"])
    return rows


def claim_header(summary: dict[str, Any]) -> list[str]:
    claim = summary["claim"]
    if claim["evaluation"] == "speedup":
        return ["", "baseline", "subject", "ratio (95% interval)"]
    return ["size", claim["baseline"]["series"], claim["subject"]["series"], "speed-up (95% interval)", "unfused bytes",
            "fused bytes"]


def to_markdown(summary: dict[str, Any]) -> str:
    claim = summary["claim"]
    source = claim["source"]
    lines = [f"## Claim `{claim['id']}`: {claim['statement']}", "",
             f"Source: [{source['title']}]({source['url']})" + (f", {source['publisher']}" if source.get("publisher")
                                                                 else ""), ""]
    for key, value in claim.get("setup", {}).items():
        lines.append(f"- {key}: {value}")
    lines += ["", "| " + " | ".join(claim_header(summary)) + " |", "|" + "---|" * len(claim_header(summary))]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in claim_rows(summary)]
    lines += ["", f"**Verdict: {summary['verdict']}.** {summary['explanation']}", ""]
    return "\n".join(line.replace("<", "&lt;").replace(">", "&gt;") if not line.startswith("Source:") else line
                     for line in lines) + "\n"


def to_html(summary: dict[str, Any]) -> str:
    claim = summary["claim"]
    source = claim["source"]
    url = source["url"] if source["url"].startswith(("https://", "http://")) else ""
    parts = [f'<section class="claim"><h2>Claim {escape(claim["id"])}: {escape(claim["statement"])}</h2>',
             f'<p>Source: {escape(source["title"])}' + (f", {escape(source['publisher'])}" if source.get("publisher")
                                                        else "")
             + (f' (<code>{escape(url)}</code>)' if url else "") + "</p><ul>"]
    parts += [f"<li><b>{escape(key)}</b>: {escape(value)}</li>" for key, value in claim.get("setup", {}).items()]
    parts.append("</ul><table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in claim_header(summary))
                 + "</tr></thead><tbody>")
    for row in claim_rows(summary):
        parts.append("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>")
    parts.append(f'</tbody></table><p class="verdict"><b>Verdict: {escape(summary["verdict"])}.</b> '
                 f'{escape(summary["explanation"])}</p></section>')
    return "".join(parts)
