"""Human-readable figures, shared by the terminal output and the reports."""

from __future__ import annotations

import math
from typing import Any


def _number(value: Any) -> float | None:
    """``value`` as a float; None for None, NaN and pandas' missing values."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def format_seconds(value: Any) -> str:
    """``1.23 ms``: three significant digits in s, ms, µs or ns; ``-`` for a missing value."""
    value = _number(value)
    if value is None:
        return "-"
    if value >= 1:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    if value >= 1e-6:
        return f"{value * 1e6:.3g} µs"
    return f"{value * 1e9:.3g} ns"


def format_number(value: Any, digits: int = 3) -> str:
    """``digits`` significant digits; ``-`` for a missing value."""
    value = _number(value)
    return "-" if value is None else f"{value:.{digits}g}"


def format_bytes(count: float) -> str:
    """``1.5 GiB``: binary units, three significant digits."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if count < 1024 or unit == "EiB":
            return f"{count:.3g} {unit}"
        count /= 1024
    return f"{count:.3g} EiB"


def format_milliseconds(seconds: float | None) -> str:
    """``12.3 ms`` below a second, ``1.23 s`` from one up, ``-`` for None: a claim's figures."""
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"
