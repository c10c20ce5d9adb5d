"""``fwbench ab``'s verdicts: each cell's candidate against its baseline, measured side by side in one run.

An A/B run (:mod:`fwbench.cli.ab_command`) measures every cell twice, once per side (``side``: baseline,
candidate), each side's workers started with its own interpreter, environment and module path, the two
sides of a cell taking turns in the same round as any two series of a size do.  So candidate/baseline comes
from turns paired in time, clustered by round (:func:`fwbench.stats.ratios.ratio`), and the machine's drift
cancels out of it.  With threshold t, a cell is

* ``slower``: its interval lies above 1 + t;
* ``faster``: its interval lies below 1 / (1 + t);
* ``same``: its interval lies inside [1 / (1 + t), 1 + t];
* ``undecided``: anything else; ``resolution`` says the smallest change its interval could have called
  (max(high, 1 / low)), so a gate that passed says what it could have missed;
* ``broken``: ok on the baseline side but mismatch, error, skipped or absent on the candidate side.

Each verdict is a one-sided test at 5%, spent over three looks (Bonferroni): after a size's first
3 rounds a cell decided at 0.5% (the two-sided 99% interval) gets no more rounds, after 5 rounds one
decided at 1% (98%) gets none either (:data:`AB_LOOKS`, :func:`settled_cells`), and the others go on to the
last round and are judged at 3.5% (:data:`AB_LEVEL`, 93%).  ``slower`` rejects "no more than 1 + t slower"
(the interval's low end above 1 + t), ``faster`` its mirror, and ``same`` is two one-sided tests (the interval
inside the band), as equivalence tests are made.  A cell settled at a look is judged again at the end, on the
rounds it took, at the last level, whose narrower interval nearly always repeats the look's verdict (the look
pools the spread of its own size's cells, the last judgment the whole run's, so the two need not nest).
Until session 20 every cell took all its rounds and was judged once at 5% (90%); session 20 looked once,
after 5 rounds (1%, then 4%); the look after 3 rounds came in session 21, replayed over 50 kept runs first:
as many cells called, 10-15% fewer rounds.
The intervals are per cell, not widened over cells, because an A/B gate on the same machine has none of
the between-run spread that ``fwbench compare`` must allow for; the false-alarm check is ``fwbench ab`` with
both sides identical (docs: A/B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from fwbench.stats.ratios import Ratio, ratio
from fwbench.stats.settle import more_rounds_to
from fwbench.stats.verdicts import turn_pair_priors

SIDES = ("baseline", "candidate")
AB_VERSION = 1
# The looks before the last round: (a size's rounds so far, the two-sided level a cell is decided at there);
# each verdict a one-sided test at 0.5%, then at 1%
AB_LOOKS = ((3, 0.99), (5, 0.98))
AB_LEVEL = 0.93  # two-sided, at the last round: each verdict a one-sided test at 3.5%, 5% with the looks' 1.5%
VERDICT_ORDER = ("broken", "slower", "faster", "undecided", "same")


@dataclass(frozen=True)
class AbCell:
    """One cell's candidate/baseline: the verdict, the ratio and its interval, and what the verdict rests on."""

    cell: str
    verdict: str
    ratio: float | None
    low: float | None
    high: float | None
    resolution: float | None
    method: str
    reason: str | None = None
    rounds: int | None = None  # the rounds the interval rests on
    more_rounds: int | None = None  # undecided: about how many more rounds would settle it (None: none would)

    def as_dict(self) -> dict[str, Any]:
        return {"cell": self.cell, "verdict": self.verdict, "ratio": self.ratio, "low": self.low, "high": self.high,
                "resolution": self.resolution, "method": self.method, "rounds": self.rounds,
                **({"more_rounds": self.more_rounds} if self.verdict == "undecided" else {}),
                **({"reason": self.reason} if self.reason else {})}

    def settle_text(self) -> str:
        """For an undecided cell with an interval, what more rounds would do, in a phrase; else ''."""
        if self.verdict != "undecided" or self.low is None:
            return ""
        if self.more_rounds is None:
            return f"its ratio sits at or near the band's edge: more than {MAX_MORE_ROUNDS} more rounds to settle it"
        total = (self.rounds or 0) + self.more_rounds
        return f"about {self.more_rounds} more rounds would settle it (--rounds {total})"


def base_cell_id(cell_id: str) -> str:
    """The cell's id without its side (``power_sum[n=64]/numpy/eager/cpu#candidate`` -> ``...cpu``)."""
    for side in SIDES:
        if cell_id.endswith("#" + side):
            return cell_id[: -len(side) - 1]
    return cell_id


def classify(value: Ratio, threshold: float) -> str:
    """slower, faster, same or undecided for a candidate/baseline ratio with an interval."""
    if not value.has_interval:
        return "undecided"
    if value.low > 1 + threshold:
        return "slower"
    if value.high < 1 / (1 + threshold):
        return "faster"
    if value.low >= 1 / (1 + threshold) and value.high <= 1 + threshold:
        return "same"
    return "undecided"


def ab_cells(rows: Iterable[Mapping[str, Any]], threshold: float, level: float = AB_LEVEL) -> list[AbCell]:
    """Every cell of an A/B run, its combined rows (one per cell and side), judged; in the rows' order."""
    pairs: dict[str, dict[str, Mapping[str, Any]]] = {}
    for row in rows:
        side = row.get("side")
        if side in SIDES:
            pairs.setdefault(base_cell_id(str(row["cell_id"])), {})[side] = row
    measured = [(sides["candidate"], sides["baseline"]) for sides in pairs.values()
                if len(sides) == 2 and all(row.get("status") == "ok" for row in sides.values())]
    priors = turn_pair_priors(measured)
    found = []
    for cell, sides in pairs.items():
        baseline, candidate = sides.get("baseline"), sides.get("candidate")
        if baseline is None or baseline.get("status") != "ok":
            status = baseline.get("status") if baseline is not None else "absent"
            found.append(AbCell(cell, "undecided", None, None, None, None, "no baseline measurement",
                                f"baseline {status}: {baseline.get('reason') if baseline is not None else ''}"))
            continue
        if candidate is None or candidate.get("status") != "ok":
            status = candidate.get("status") if candidate is not None else "absent"
            found.append(AbCell(cell, "broken", None, None, None, None, "the candidate did not measure",
                                f"candidate {status}: {candidate.get('reason') if candidate is not None else ''}"))
            continue
        value = ratio(candidate, baseline, level, turn_prior=priors.get(candidate.get("run_id")))
        resolution = max(value.high, 1 / value.low) if value.has_interval and value.low > 0 else None
        verdict = classify(value, threshold)
        found.append(AbCell(cell, verdict, value.value, value.low, value.high, resolution, value.method,
                            rounds=value.rounds,
                            more_rounds=rounds_to_settle(value, threshold) if verdict == "undecided" else None))
    return found


MAX_MORE_ROUNDS = 1000  # past this no number is given: the cell sits at or near the band's edge


def rounds_to_settle(value: Ratio, threshold: float) -> int | None:
    """About how many more rounds an undecided candidate/baseline ratio needs for its interval to leave or fit
    the band (slower, faster or same, whichever needs the fewest), if the ratio and the spread of its rounds
    stay as they are (:func:`fwbench.stats.settle.more_rounds_to`: the standard error shrinking as one over the
    root of the rounds, the t quantile with their degrees of freedom).  The ratio moves as rounds come, so it
    is a rough guide (docs/methodology.md, session 24: over 400 kept cells the half-width ten rounds gave was
    the projected one from three rounds times e^-0.08 on the median, quartiles e^-0.33 to e^+0.30).  None
    without an interval or when no number would do (a ratio on the band's edge, or more than
    :data:`MAX_MORE_ROUNDS`)."""
    if not value.has_interval or value.low <= 0 or value.rounds < 1:
        return None
    centre, band = abs(math.log(value.value)), math.log(1 + threshold)
    room = max(centre - band, band - centre)  # past the band's edge, or inside it
    more = more_rounds_to(value, room, limit=MAX_MORE_ROUNDS + 1)
    return more if more is not None and more <= MAX_MORE_ROUNDS else None


def look_rounds(rounds: int, rounds_per_start: int | None = None) -> tuple[int, ...]:
    """The rounds of a size after which :data:`AB_LOOKS` look, for a run of ``rounds`` rounds (a look at or
    after the last round is none: the last round judges at :data:`AB_LEVEL`).  None when one start of the
    workers serves fewer than all the rounds (``rounds_per_start``): the interleaver counts a size's rounds and
    reads its records within one start, so a second start would look again at its own rounds alone, outside
    the 5% spent, and bring back the cells the first start settled."""
    if rounds_per_start is not None and rounds_per_start < rounds:
        return ()
    return tuple(after for after, _ in AB_LOOKS if after < rounds)


def settled_cells(records: Iterable[Mapping[str, Any]], threshold: float, after_rounds: int) -> set[str]:
    """The look after a size's first ``after_rounds`` rounds (one of :data:`AB_LOOKS`): the cell ids (both
    sides) of the cells among ``records`` (round records of one size) whose verdict at that look's level is
    slower, faster or same; they need no more rounds."""
    from fwbench.records.combine import combine_rounds

    level = dict(AB_LOOKS)[after_rounds]
    decided = {cell.cell for cell in ab_cells(combine_rounds([dict(record) for record in records]), threshold,
                                                 level)
               if cell.verdict in ("slower", "faster", "same")}
    return {f"{cell}#{side}" for cell in decided for side in SIDES}


def exit_code(cells: list[AbCell]) -> int:
    """1 when a cell is slower or broken, else 0."""
    return 1 if any(cell.verdict in ("slower", "broken") for cell in cells) else 0


def document(cells: list[AbCell], threshold: float, sides: Mapping[str, Any], run_dir: str) -> dict[str, Any]:
    """The ``--json`` document: version, the sides, the threshold, and every cell's verdict."""
    return {"version": AB_VERSION, "run": run_dir, "threshold": threshold, "level": AB_LEVEL,
            "sides": dict(sides), "counts": counts(cells), "cells": [cell.as_dict() for cell in cells]}


def counts(cells: list[AbCell]) -> dict[str, int]:
    return {verdict: sum(cell.verdict == verdict for cell in cells) for verdict in VERDICT_ORDER}


def ordered(cells: list[AbCell]) -> list[AbCell]:
    """Broken first, then slower, faster, undecided, same; within each, by cell id."""
    return sorted(cells, key=lambda cell: (VERDICT_ORDER.index(cell.verdict), cell.cell))


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def headline(cells: list[AbCell], threshold: float) -> str:
    """One sentence: how many cells of each verdict, and the resolution reached."""
    found = counts(cells)
    resolutions = sorted(cell.resolution for cell in cells if cell.resolution)
    reached = (f"; the median cell could have called a change of {resolutions[len(resolutions) // 2]:.2f}x"
               if resolutions else "")
    return (f"{len(cells)} cells, candidate against baseline at ±{threshold:.0%}: "
            + ", ".join(f"{count} {verdict}" for verdict, count in found.items() if count) + reached)


def markdown(cells: list[AbCell], threshold: float, sides: Mapping[str, Any]) -> str:
    """The A/B result as Markdown (a pull-request comment or a GitHub job summary)."""
    lines = ["## fwbench ab", "", headline(cells, threshold) + ".", "",
             f"- baseline: `{sides.get('baseline', {}).get('describe', '')}`",
             f"- candidate: `{sides.get('candidate', {}).get('describe', '')}`", "",
             f"| cell | verdict | candidate / baseline | {AB_LEVEL:.0%} interval | resolution | to settle |",
             "|---|---|---:|---|---:|---|"]
    for cell in ordered(cells):
        interval = f"{_number(cell.low)}-{_number(cell.high)}" if cell.low is not None else cell.reason or "-"
        lines.append(f"| `{cell.cell}` | {cell.verdict} | {_number(cell.ratio)} | {interval} | "
                     f"{_number(cell.resolution, 2)} | {cell.settle_text()} |")
    return "\n".join(lines) + "\n"


def html(cells: list[AbCell], threshold: float, sides: Mapping[str, Any]) -> str:
    """A self-contained HTML page of the A/B result: the table, each ratio drawn against the threshold band."""
    from html import escape

    rows = []
    finite = [value for cell in cells for value in (cell.low, cell.high) if value]
    span = max([abs(math.log(value)) for value in finite] + [math.log(1 + threshold) * 2])
    def x(value: float) -> float:
        return 150 + 140 * math.log(value) / span

    for cell in ordered(cells):
        colour = {"slower": "#c0392b", "broken": "#c0392b", "faster": "#1e8449",
                  "same": "#555"}.get(cell.verdict, "#b9770e")
        bar = ""
        if cell.low is not None:
            bar = (f'<svg width="300" height="14" role="img" aria-label="{_number(cell.low)} to {_number(cell.high)}">'
                   f'<rect x="{x(1 / (1 + threshold)):.1f}" y="0" '
                   f'width="{x(1 + threshold) - x(1 / (1 + threshold)):.1f}" '
                   f'height="14" fill="#ddd"/><line x1="150" x2="150" y1="0" y2="14" stroke="#888"/>'
                   f'<line x1="{x(cell.low):.1f}" x2="{x(cell.high):.1f}" y1="7" y2="7" '
                   f'stroke="{colour}" stroke-width="3"/>'
                   f'<circle cx="{x(cell.ratio):.1f}" cy="7" r="3" fill="{colour}"/></svg>')
        rows.append(f"<tr><td><code>{escape(cell.cell)}</code></td><td style=\"color:{colour}\">{cell.verdict}</td>"
                    f"<td>{_number(cell.ratio)}</td><td>{_number(cell.low)}-{_number(cell.high)}</td><td>{bar}</td>"
                    f"<td>{escape(cell.reason or cell.settle_text())}</td></tr>")
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>fwbench ab</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}"
            "@media (prefers-color-scheme: dark){body{background:#111;color:#eee}}</style></head><body>"
            f"<h1>fwbench ab</h1><p>{escape(headline(cells, threshold))}.</p>"
            f"<p>baseline: <code>{escape(str(sides.get('baseline', {}).get('describe', '')))}</code><br>"
            f"candidate: <code>{escape(str(sides.get('candidate', {}).get('describe', '')))}</code></p>"
            f"<p>Grey band: within the threshold; line: the {AB_LEVEL:.0%} interval of candidate / baseline (each "
            "verdict a one-sided test at 5%).</p>"
            "<table><tr><th>cell</th><th>verdict</th><th>ratio</th><th>interval</th><th></th><th>note</th></tr>"
            + "".join(rows) + "</table></body></html>\n")
