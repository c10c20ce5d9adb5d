"""Charts as inline SVG strings: no chart library, no network, nothing to load.

Every text that reaches the SVG passes through :func:`html.escape`.
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
            parts.append(f'<line x1="{MARGIN_LEFT}" y1="{position:.1f}" x2="{WIDTH - MARGIN_RIGHT}" y2="{position:.1f}" '
                         'class="grid"/>')
            parts.append(f'<text x="{MARGIN_LEFT - 6}" y="{position + 4:.1f}" text-anchor="end">'
                         f'{escape(formatter(tick))}</text>')
        else:
            parts.append(f'<line x1="{position:.1f}" y1="{MARGIN_TOP}" x2="{position:.1f}" y2="{HEIGHT - MARGIN_BOTTOM}" '
                         'class="grid"/>')
            parts.append(f'<text x="{position:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle">'
                         f'{escape(formatter(tick))}</text>')
    return parts


def time_vs_size(title: str, size_label: str, series: dict[str, list[tuple[float, float, float, float]]]) -> str:
    """Log-log lines of median time against size, with the 95% CI as a band.

    ``series`` maps a name to points (size, median, ci_low, ci_high).
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
        if len(points) > 1:
            upper = " ".join(f"{x(p[0]):.1f},{y(p[3] or p[1]):.1f}" for p in points)
            lower = " ".join(f"{x(p[0]):.1f},{y(p[2] or p[1]):.1f}" for p in reversed(points))
            parts.append(f'<polygon points="{upper} {lower}" fill="{colour(name)}" fill-opacity="0.15" stroke="none"/>')
        line = " ".join(f"{x(p[0]):.1f},{y(p[1]):.1f}" for p in points)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour(name)}" stroke-width="2" '
                     f'stroke-dasharray="{dash(name)}"/>')
        for p in points:
            parts.append(f'<circle cx="{x(p[0]):.1f}" cy="{y(p[1]):.1f}" r="3" fill="{colour(name)}">'
                         f'<title>{escape(name)}: {escape(format_seconds(p[1]))} at {p[0]:g}</title></circle>')
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
        parts.append(f'<text x="{origin - 6:.1f}" y="{top + 12}" text-anchor="end" class="legend">{escape(name)}</text>')
        parts.append(f'<rect x="{origin:.1f}" y="{top}" width="{max(axis(value) - origin, 1):.1f}" height="16" '
                     f'fill="{colour(name)}" fill-opacity="0.8"><title>{escape(name)}: {escape(formatter(value))}'
                     '</title></rect>')
        if low and high and not (math.isnan(low) or math.isnan(high)):
            parts.append(f'<line x1="{axis(low):.1f}" y1="{top + 8}" x2="{axis(high):.1f}" y2="{top + 8}" '
                         'stroke="#222" stroke-width="1.5"/>')
        parts.append(f'<text x="{axis(high or value) + 4:.1f}" y="{top + 12}" class="legend">'
                     f'{escape(formatter(value))}</text>')
    if reference:
        position = axis(reference)
        parts.append(f'<line x1="{position:.1f}" y1="{MARGIN_TOP}" x2="{position:.1f}" y2="{height - MARGIN_BOTTOM}" '
                     'stroke="#000" stroke-width="1.5" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{position + 4:.1f}" y="{MARGIN_TOP + 10}" class="legend">{escape(reference_label)}</text>')
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
    parts.append(f'<polyline points="{line}" fill="none" stroke="#000" stroke-width="1.5"/>')
    parts.append(f'<text x="{x(ridge) + 4:.1f}" y="{y(peak_gflops_per_s) - 4:.1f}" class="legend">'
                 f'GEMM peak {peak_gflops_per_s:.3g} GFLOP/s; memory {bandwidth_gbytes_per_s:.3g} GB/s</text>')
    for series, intensity, rate, label in points:
        parts.append(f'<circle cx="{x(intensity):.1f}" cy="{y(rate):.1f}" r="3.5" fill="{colour(series)}" '
                     f'fill-opacity="0.75"><title>{escape(series)} {escape(label)}: {rate:.3g} GFLOP/s at '
                     f'{intensity:.3g} FLOP/B</title></circle>')
    parts += _legend(list(dict.fromkeys(p[0].split("/")[0] for p in points)))
    parts.append("</svg>")
    return "\n".join(parts)
