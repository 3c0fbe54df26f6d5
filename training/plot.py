"""Training-curve plot as a hand-written SVG (no plotting library needed): the training loss
(left panel, log scale) and the held-out accuracy (right panel) per epoch."""
from __future__ import annotations

import math
from typing import List, Optional, Sequence


def _panel(x0: float, y0: float, w: float, h: float, ys: Sequence[float], title: str,
           log: bool, color: str, mark: Optional[int], fmt: str) -> List[str]:
    out = [f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#888"/>',
           f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" font-size="13">{title}</text>']
    vals = [math.log10(max(v, 1e-12)) if log else v for v in ys]
    if not vals:
        return out
    lo, hi = min(vals), max(vals)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    n = len(vals)

    def px(i: int) -> float:
        return x0 + (w * i / (n - 1) if n > 1 else w / 2)

    def py(v: float) -> float:
        return y0 + h - h * (v - lo) / (hi - lo)

    pts = ' '.join(f'{px(i):.1f},{py(v):.1f}' for i, v in enumerate(vals))
    out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"/>')
    for v in (lo, hi):
        label = fmt.format(10 ** v if log else v)
        out.append(f'<text x="{x0 - 4}" y="{py(v) + 4:.1f}" text-anchor="end" font-size="10">{label}</text>')
    out.append(f'<text x="{x0}" y="{y0 + h + 14}" font-size="10">1</text>')
    out.append(f'<text x="{x0 + w}" y="{y0 + h + 14}" text-anchor="end" font-size="10">epoch {n}</text>')
    if mark is not None and 0 <= mark < n:
        out.append(f'<circle cx="{px(mark):.1f}" cy="{py(vals[mark]):.1f}" r="3.5" fill="#d62728"/>')
    return out


def write_curve(path: str, title: str, loss: Sequence[float], heldout: Sequence[float],
                heldout_label: str, best_epoch: Optional[int]) -> None:
    width, height = 760, 300
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{_esc(title)}</text>']
    parts += _panel(60, 50, 300, 210, loss, 'training loss (log scale)', True, '#1f77b4', best_epoch, '{:.3g}')
    parts += _panel(440, 50, 300, 210, [100 * a for a in heldout], _esc(heldout_label) + ' (%)',
                    False, '#2ca02c', best_epoch, '{:.1f}')
    parts.append(f'<text x="{width - 10}" y="{height - 6}" text-anchor="end" font-size="10" fill="#d62728">'
                 f'dot: kept checkpoint</text>')
    parts.append('</svg>')
    with open(path, 'w') as f:
        f.write('\n'.join(parts) + '\n')


def _esc(s: str) -> str:
    return s.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
