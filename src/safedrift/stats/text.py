"""How numbers are written in findings, tables and reports, in one place."""

from __future__ import annotations

import math


def is_missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x, missing: str = "n/a") -> str:
    """0.123 → '12%'."""
    return missing if is_missing(x) else f"{100 * x:.0f}%"


def points(x, missing: str = "n/a") -> str:
    """A difference of rates in signed percentage points: -0.6 → '-60'."""
    return missing if is_missing(x) else f"{100 * x:+.0f}"


def pvalue(p, missing: str = "n/a", prefix: str = "p ") -> str:
    """'p < 0.001' / 'p = 0.042'; with prefix="": '<0.001' / '0.042'."""
    if is_missing(p):
        return missing
    if p < 0.001:
        return f"{prefix}< 0.001" if prefix else "<0.001"
    return f"{prefix}= {p:.3f}" if prefix else f"{p:.3f}"
