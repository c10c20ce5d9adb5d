"""Charts as inline SVG strings: no chart library, no network, nothing to load.

Every text that reaches the SVG passes through :func:`html.escape`.  Colours of text, axes and
reference lines come from the page's stylesheet (``currentColor`` and the classes ``grid`` and ``ink``),
so the charts follow its light and dark schemes and print; series keep their framework's colour.
"""

from __future__ import annotations

import math
from html import escape
from typing import Iterable, Sequence

from fwbench.units import format_seconds

WIDTH, HEIGHT = 600, 340
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 170, 30, 50
FRAMEWORK_COLOURS = {"numpy": "#1f77b4", "jax": "#2ca02c", "torch": "#ff7f0e", "tensorflow": "#d62728"}
MODE_DASHES = {"eager": "", "jit": "6 3", "compile": "6 3", "function": "2 3", "xla": "6 3"}


def colour(series: str) -> str:
    return FRAMEWORK_COLOURS.get(series.split("/")[0], "#7f7f7f")


def dash(series: str) -> str:
    mode = series.split("/")[1].split("@")[0] if "/" in series else ""
    return MODE_DASHES.get(mode, "")


class LogAxis:
    """Maps values to pixels on a log10 scale with decade ticks."""

    def __init__(self, values: Iterable[float], start: float, end: float) -> None:
        positive = [v for v in values if v and v > 0 and math.isfinite(v)] or [1.0]
        self.low = math.floor(math.log10(min(positive)))
        self.high = math.ceil(math.log10(max(positive)))
        if self.high == self.low:
            self.high += 1
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        value = max(value, 10.0**self.low)
        return self.start + (math.log10(value) - self.low) / (self.high - self.low) * (self.end - self.start)

    def ticks(self) -> list[float]:
        return [10.0**power for power in range(self.low, self.high + 1)]


def _frame(title: str, x_label: str, y_label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<text x="{WIDTH / 2 - 60}" y="18" class="title">{escape(title)}</text>',
        f'<text x="{MARGIN_LEFT + (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / 2}" y="{HEIGHT - 8}" '
        f'text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="14" y="{MARGIN_TOP + (HEIGHT - MARGIN_TOP - MARGIN_BOTTOM) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {MARGIN_TOP + (HEIGHT - MARGIN_TOP - MARGIN_BOTTOM) / 2})">{escape(y_label)}</text>',
    ]


def _legend(names: Sequence[str]) -> list[str]:
    parts = []
    for index, name in enumerate(names):
        y = MARGIN_TOP + 10 + index * 16
        x = WIDTH - MARGIN_RIGHT + 12
        parts.append(f'<line x1="{x}" y1="{y}" x2="{x + 22}" y2="{y}" stroke="{colour(name)}" stroke-width="2.5" '
                     f'stroke-dasharray="{dash(name)}"/>')
        parts.append(f'<text x="{x + 28}" y="{y + 4}" class="legend">{escape(name)}</text>')
    return parts


def _value_axis(axis: LogAxis, formatter, vertical: bool) -> list[str]:
    parts = []
    for tick in axis.ticks():
        position = axis(tick)
        if vertical:
            parts.append(f'<line x1="{MARGIN_LEFT}" y1="{position:.1f}" x2="{WIDTH - MARGIN_RIGHT}" '
                         f'y2="{position:.1f}" class="grid"/>')
            parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{position + 4:.1f}" text-anchor="end">'
                         f'{escape(formatter(tick))}</text>')
        else:
            parts.append(f'<line x1="{position:.1f}" y1="{MARGIN_TOP}" x2="{position:.1f}" '
                         f'y2="{HEIGHT - MARGIN_BOTTOM}" class="grid"/>')
            parts.append(f'<text x="{position:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle">'
                         f'{escape(formatter(tick))}</text>')
    return parts


def time_vs_size(title: str, size_label: str, series: dict[str, list[tuple[float, float, float, float]]]) -> str:
    """Log-log lines of median time against size, with the 95% CI as a band.

    ``series`` maps a name to points (size, median, ci_low, ci_high).  The report shows the same numbers in
    the table above the chart, so the points carry no tooltips (they would double the page's size).
    """
    sizes = [p[0] for points in series.values() for p in points]
    times = [v for points in series.values() for p in points for v in p[1:] if v]
    x = LogAxis(sizes, MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    y = LogAxis(times, HEIGHT - MARGIN_BOTTOM, MARGIN_TOP)
    parts = _frame(title, size_label, "time per call")
    parts += _value_axis(y, format_seconds, vertical=True)
    parts += _value_axis(x, lambda v: f"{v:g}", vertical=False)
    for name, points in series.items():
        points = sorted(points)
        group = [f'<g stroke="{colour(name)}" fill="{colour(name)}">']
        if len(points) > 1:
            upper = " ".join(f"{x(p[0]):.0f},{y(p[3] or p[1]):.0f}" for p in points)
            lower = " ".join(f"{x(p[0]):.0f},{y(p[2] or p[1]):.0f}" for p in reversed(points))
            group.append(f'<polygon points="{upper} {lower}" fill-opacity=".15" stroke="none"/>')
        line = " ".join(f"{x(p[0]):.0f},{y(p[1]):.0f}" for p in points)
        group.append(f'<polyline points="{line}" fill="none" stroke-width="2" stroke-dasharray="{dash(name)}"/>')
        group += [f'<circle cx="{x(p[0]):.0f}" cy="{y(p[1]):.0f}" r="3"/>' for p in points]
        parts.append("".join(group) + "</g>")
    parts += _legend(list(series))
    parts.append("</svg>")
    return "\n".join(parts)


def horizontal_bars(title: str, value_label: str, bars: list[tuple[str, float, float | None, float | None]],
                    formatter=lambda v: f"{v:.3g}", reference: float | None = None,
                    reference_label: str = "") -> str:
    """Bars on a log scale, one per (name, value, low, high); an optional vertical reference line."""
    values = [b[1] for b in bars] + [b[2] for b in bars if b[2]] + [b[3] for b in bars if b[3]]
    if reference:
        values.append(reference)
    axis = LogAxis(values, MARGIN_LEFT + 80, WIDTH - MARGIN_RIGHT + 100)
    height = MARGIN_TOP + MARGIN_BOTTOM + 12 + 22 * len(bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{WIDTH / 2 - 60}" y="18" class="title">{escape(title)}</text>',
        f'<text x="{(MARGIN_LEFT + WIDTH) / 2}" y="{height - 8}" text-anchor="middle">{escape(value_label)}</text>',
    ]
    for tick in axis.ticks():
        position = axis(tick)
        parts.append(f'<line x1="{position:.1f}" y1="{MARGIN_TOP}" x2="{position:.1f}" y2="{height - MARGIN_BOTTOM}" '
                     'class="grid"/>')
        parts.append(f'<text x="{position:.1f}" y="{height - MARGIN_BOTTOM + 16}" text-anchor="middle">'
                     f'{escape(formatter(tick))}</text>')
    origin = axis(10.0**axis.low)
    for index, (name, value, low, high) in enumerate(bars):
        top = MARGIN_TOP + 6 + index * 22
        parts.append(f'<text x="{origin - 6:.1f}" y="{top + 12}" text-anchor="end" class="legend">'
                     f'{escape(name)}</text>')
        parts.append(f'<rect x="{origin:.1f}" y="{top}" width="{max(axis(value) - origin, 1):.1f}" height="16" '
                     f'fill="{colour(name)}" fill-opacity="0.8"><title>{escape(name)}: {escape(formatter(value))}'
                     '</title></rect>')
        if low and high and not (math.isnan(low) or math.isnan(high)):
            parts.append(f'<line x1="{axis(low):.1f}" y1="{top + 8}" x2="{axis(high):.1f}" y2="{top + 8}" '
                         'class="ink" stroke-width="1.5"/>')
        parts.append(f'<text x="{axis(high or value) + 4:.1f}" y="{top + 12}" class="legend">'
                     f'{escape(formatter(value))}</text>')
    if reference:
        position = axis(reference)
        parts.append(f'<line x1="{position:.1f}" y1="{MARGIN_TOP}" x2="{position:.1f}" y2="{height - MARGIN_BOTTOM}" '
                     'class="ink" stroke-width="1.5" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{position + 4:.1f}" y="{MARGIN_TOP + 10}" class="legend">'
                     f'{escape(reference_label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def roofline(title: str, points: list[tuple[str, float, float, str]], bandwidth_gbytes_per_s: float,
             peak_gflops_per_s: float) -> str:
    """Achieved GFLOP/s against arithmetic intensity (FLOP per fused byte), under the measured ceilings.

    ``points`` are (series, intensity, GFLOP/s, label).
    """
    intensities = [p[1] for p in points] + [peak_gflops_per_s / bandwidth_gbytes_per_s]
    rates = [p[2] for p in points] + [peak_gflops_per_s]
    x = LogAxis(intensities, MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    y = LogAxis(rates, HEIGHT - MARGIN_BOTTOM, MARGIN_TOP)
    parts = _frame(title, "arithmetic intensity (FLOP per byte moved, fused)", "GFLOP/s")
    parts += _value_axis(y, lambda v: f"{v:g}", vertical=True)
    parts += _value_axis(x, lambda v: f"{v:g}", vertical=False)
    ridge = peak_gflops_per_s / bandwidth_gbytes_per_s
    low_x = 10.0**x.low
    ceiling = [(low_x, bandwidth_gbytes_per_s * low_x), (ridge, peak_gflops_per_s), (10.0**x.high, peak_gflops_per_s)]
    line = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in ceiling)
    parts.append(f'<polyline points="{line}" fill="none" class="ink" stroke-width="1.5"/>')
    parts.append(f'<text x="{x(ridge) + 4:.1f}" y="{y(peak_gflops_per_s) - 4:.1f}" class="legend">'
                 f'GEMM peak {peak_gflops_per_s:.3g} GFLOP/s; memory {bandwidth_gbytes_per_s:.3g} GB/s</text>')
    by_series: dict[str, list[str]] = {}
    for series, intensity, rate, label in points:
        by_series.setdefault(series, []).append(
            f'<circle cx="{x(intensity):.0f}" cy="{y(rate):.0f}" r="3.5"><title>{escape(series)} {escape(label)}: '
            f'{rate:.3g} GFLOP/s at {intensity:.3g} FLOP/B</title></circle>')
    parts += [f'<g fill="{colour(series)}" fill-opacity=".75">' + "".join(circles) + "</g>"
              for series, circles in by_series.items()]
    parts += _legend(list(dict.fromkeys(p[0].split("/")[0] for p in points)))
    parts.append("</svg>")
    return "\n".join(parts)


PANEL_COLUMNS = 4
PANEL_WIDTH, PANEL_HEIGHT = 300, 112
PANEL_LEFT, PANEL_TOP, PANEL_BOTTOM = 34, 28, 16
LEGEND_HEIGHT = 22


def _short_size(label: str) -> str:
    """``n=4000`` -> ``4000``; ``b=16,n=64`` stays; ``-`` (no sweep) -> empty."""
    if label in ("", "-"):
        return ""
    return label.split("=", 1)[1] if label.count("=") == 1 else label


def speedup_panels(panels: Sequence, baseline: str) -> str:
    """Small multiples, one panel per workload: each series' speedup against ``baseline`` (log scale) at
    every size of the sweep, with its 95% interval as a whisker, and the verdict at the largest size in
    the panel's title.  ``panels`` are :class:`fwbench.report.summary.Panel`; one shared scale and legend.
    The numbers are not repeated in the SVG: the report puts them in a table beside it."""
    series_names = list(dict.fromkeys(name for panel in panels for name in panel.points))
    values = [v for panel in panels for points in panel.points.values() for p in points for v in p[2:] if v]
    rows = max(1, math.ceil(len(panels) / PANEL_COLUMNS))
    width = PANEL_COLUMNS * PANEL_WIDTH
    height = LEGEND_HEIGHT + rows * PANEL_HEIGHT
    title = f"speedup against {baseline} per workload and size (higher is faster; whiskers: 95% intervals)"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart panels" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">']
    x_at = 4
    for name in series_names:
        parts.append(f'<line x1="{x_at}" y1="11" x2="{x_at + 18}" y2="11" stroke="{colour(name)}" stroke-width="2.5" '
                     f'stroke-dasharray="{dash(name)}"/>'
                     f'<text x="{x_at + 22}" y="15" class="legend">{escape(name)}</text>')
        x_at += 30 + 6.4 * len(name)
    for index, panel in enumerate(panels):
        left = (index % PANEL_COLUMNS) * PANEL_WIDTH
        top = LEGEND_HEIGHT + (index // PANEL_COLUMNS) * PANEL_HEIGHT
        parts += _panel(panel, left, top, LogAxis(values + [1.0], top + PANEL_HEIGHT - PANEL_BOTTOM, top + PANEL_TOP),
                        series_names)
    parts.append("</svg>")
    return "\n".join(parts)


def _panel(panel, left: float, top: float, y: LogAxis, series_names: list[str]) -> list[str]:
    right = left + PANEL_WIDTH - 10
    plot_left = left + PANEL_LEFT
    sizes = sorted({(p[0], p[1]) for points in panel.points.values() for p in points})
    step = (right - plot_left) / max(len(sizes), 1)
    position = {key: plot_left + step * (i + 0.5) for i, key in enumerate(sizes)}
    verdict_class = "undecided" if panel.verdict_text.endswith("undecided") else "decided"
    parts = [f'<text x="{left + 4}" y="{top + 12}" class="title">{escape(panel.workload)}</text>',
             f'<text x="{left + 4}" y="{top + 24}" class="verdict {verdict_class}">{escape(panel.verdict_text)}</text>']
    for tick in y.ticks():
        parts.append(f'<line x1="{plot_left}" y1="{y(tick):.0f}" x2="{right}" y2="{y(tick):.0f}" class="grid"/>'
                     f'<text x="{plot_left - 3}" y="{y(tick) + 3:.0f}" text-anchor="end" class="tick">{tick:g}x</text>')
    parts.append(f'<line x1="{plot_left}" y1="{y(1.0):.0f}" x2="{right}" y2="{y(1.0):.0f}" class="ink" '
                 'stroke-dasharray="3 2"/>')
    for size, label in sizes:
        parts.append(f'<text x="{position[(size, label)]:.0f}" y="{top + PANEL_HEIGHT - 6}" text-anchor="middle" '
                     f'class="tick">{escape(_short_size(label))}</text>')
    offsets = {name: (i - (len(series_names) - 1) / 2) * min(3.0, step / (len(series_names) + 2))
               for i, name in enumerate(series_names)}
    for name, points in panel.points.items():
        xy = [(position[(p[0], p[1])] + offsets[name], p) for p in points]
        group = [f'<g stroke="{colour(name)}" fill="{colour(name)}">']
        if len(xy) > 1:
            line = " ".join(f"{x:.0f},{y(p[2]):.0f}" for x, p in xy)
            group.append(f'<polyline points="{line}" fill="none" stroke-dasharray="{dash(name)}"/>')
        for x, p in xy:
            if p[3] and p[4]:
                group.append(f'<path d="M{x:.0f} {y(p[3]):.0f}V{y(p[4]):.0f}" stroke-opacity=".6"/>')
            group.append(f'<circle cx="{x:.0f}" cy="{y(p[2]):.0f}" r="2.5"/>')
        parts.append("".join(group) + "</g>")
    return parts
