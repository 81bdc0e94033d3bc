"""The throughput chart: an inline SVG drawn on the server (no JavaScript, no build step)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape

from ..throughput import Minute

__all__ = ["throughput_svg"]

_FAILED = ("dead_lettered", "timed_out", "lease_lost")
_W, _H, _PAD = 720, 140, 24


def throughput_svg(minutes: Sequence[Minute]) -> str:
    """Bars of tasks settled per minute (failures stacked on top in red), oldest on the left."""
    if not minutes:
        return ""
    peak = max([m.total for m in minutes] + [1])
    bar = (_W - _PAD) / len(minutes)
    parts = [(f'<svg class="chart" viewBox="0 0 {_W} {_H + 18}" role="img" '
             f'aria-label="tasks settled per minute" xmlns="http://www.w3.org/2000/svg">'),
             f'<text x="0" y="10" class="axis">{peak}/min</text>',
             f'<line x1="{_PAD}" y1="{_H}" x2="{_W}" y2="{_H}" class="base"/>']
    for i, minute in enumerate(minutes):
        if not minute.total:
            continue
        bad = sum(minute.counts.get(k, 0) for k in _FAILED)
        x = _PAD + i * bar
        height = (_H - 14) * minute.total / peak
        bad_h = (_H - 14) * bad / peak
        label = escape(f"{time.strftime('%H:%M', time.gmtime(minute.start))} UTC: "
                       + ", ".join(f"{k} {v}" for k, v in sorted(minute.counts.items())))
        parts.append(f'<g><title>{label}</title>'
                     f'<rect x="{x:.1f}" y="{_H - height:.1f}" width="{max(bar - 1, 1):.1f}" '
                     f'height="{height - bad_h:.1f}" class="ok"/>'
                     f'<rect x="{x:.1f}" y="{_H - bad_h:.1f}" width="{max(bar - 1, 1):.1f}" '
                     f'height="{bad_h:.1f}" class="bad"/></g>')
    first, last = minutes[0].start, minutes[-1].start
    parts.append(f'<text x="{_PAD}" y="{_H + 14}" class="axis">'
                 f'{time.strftime("%H:%M", time.gmtime(first))} UTC</text>')
    parts.append(f'<text x="{_W}" y="{_H + 14}" text-anchor="end" class="axis">'
                 f'{time.strftime("%H:%M", time.gmtime(last))} UTC</text></svg>')
    return "".join(parts)
