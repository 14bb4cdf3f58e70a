"""Charts drawn on the server as SVG: no JavaScript, print cleanly, readable by screen
readers (a title and a text alternative on every bar)."""

from __future__ import annotations

from datetime import date
from html import escape

from markupsafe import Markup


def bars(points: list[tuple[date, int]], label: str, width: int = 720, height: int = 180) -> Markup:
    """A bar per day; the tallest bar and the axis carry the numbers."""
    top = max((n for _, n in points), default=0) or 1
    gap, left, bottom = 2, 36, 22
    bar_w = max(1.0, (width - left) / max(len(points), 1) - gap)
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" class="axis"/>',
           f'<text x="{left - 4}" y="12" text-anchor="end" class="tick">{top}</text>',
           f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" class="tick">0</text>']
    usable = height - bottom - 14
    for i, (d, n) in enumerate(points):
        h = usable * n / top
        x = left + i * (bar_w + gap)
        y = height - bottom - h
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" class="bar">'
                   f'<title>{d.strftime("%d/%m")}: {n}</title></rect>')
        if i % 7 == 0 or i == len(points) - 1:
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - 6}" text-anchor="middle" class="tick">'
                       f'{d.strftime("%d/%m")}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def share(done: int, total: int, label: str) -> Markup:
    """A thin progress bar (declared of residents)."""
    frac = done / total if total else 0
    return Markup(f'<svg class="share" viewBox="0 0 100 8" role="img" aria-label="{escape(label)}" '
                  f'preserveAspectRatio="none"><rect width="100" height="8" class="track"/>'
                  f'<rect width="{100 * frac:.1f}" height="8" class="fill"/></svg>')
