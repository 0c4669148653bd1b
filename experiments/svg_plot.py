"""A dependency-free SVG line chart (matplotlib is not in the pinned venv)."""

import math
from typing import Dict, List, Sequence, Tuple

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def line_chart(series: Dict[str, List[Tuple[float, float]]], title: str, x_label: str,
               y_label: str, x_ticks: Sequence[float], log_x: bool = True,
               width: int = 640, height: int = 400) -> str:
    """An SVG document: one polyline with dots per series, x on a log scale by default."""
    left, right, top, bottom = 70, 170, 40, 55
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)  # noqa: E731
    x0, x1 = fx(min(xs + list(x_ticks))), fx(max(xs + list(x_ticks)))
    pad = (max(ys) - min(ys)) * 0.1 or 0.05
    y0, y1 = min(ys) - pad, max(ys) + pad

    def px(x: float) -> float:
        return left + (fx(x) - x0) / ((x1 - x0) or 1) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - (y - y0) / ((y1 - y0) or 1) * (height - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2 - 60}" y="22" font-size="14">{title}</text>',
           f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" '
           f'y2="{height - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
           f'<text x="{(left + width - right) / 2 - 40}" y="{height - 15}">{x_label}</text>',
           f'<text x="15" y="{(top + height - bottom) / 2}" transform="rotate(-90 15 '
           f'{(top + height - bottom) / 2})">{y_label}</text>']
    for tick in x_ticks:
        out.append(f'<text x="{px(tick) - 8}" y="{height - bottom + 16}">{tick:g}</text>')
    for i in range(6):
        value = y0 + (y1 - y0) * i / 5
        out.append(f'<text x="{left - 45}" y="{py(value) + 4}">{value:.3f}</text>')
        out.append(f'<line x1="{left}" y1="{py(value)}" x2="{width - right}" y2="{py(value)}" '
                   f'stroke="#ddd"/>')
    for i, (name, points) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(points))
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{colour}"/>'
                   for x, y in points)
        out.append(f'<rect x="{width - right + 12}" y="{top + 20 * i}" width="12" height="12" '
                   f'fill="{colour}"/><text x="{width - right + 30}" y="{top + 20 * i + 11}">'
                   f'{name}</text>')
    out.append("</svg>")
    return "\n".join(out)


def line_chart_png(series: Dict[str, List[Tuple[float, float]]], path: str, title: str,
                   x_label: str, y_label: str, x_ticks: Sequence[float],
                   width: int = 640, height: int = 400) -> None:
    """The same chart as a PNG with Pillow (in the venv as a TensorFlow dependency)."""
    from PIL import Image, ImageDraw

    left, right, top, bottom = 70, 170, 40, 55
    xs = [math.log10(x) for points in series.values() for x, _ in points] + \
        [math.log10(t) for t in x_ticks]
    ys = [y for points in series.values() for _, y in points]
    pad = (max(ys) - min(ys)) * 0.1 or 0.05
    x0, x1, y0, y1 = min(xs), max(xs), min(ys) - pad, max(ys) + pad

    def px(x: float) -> float:
        return left + (math.log10(x) - x0) / ((x1 - x0) or 1) * (width - left - right)

    def py(y: float) -> float:
        return height - bottom - (y - y0) / ((y1 - y0) or 1) * (height - top - bottom)

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((width / 2 - 120, 12), title, fill="black")
    for i in range(6):
        value = y0 + (y1 - y0) * i / 5
        draw.line([(left, py(value)), (width - right, py(value))], fill="#dddddd")
        draw.text((left - 45, py(value) - 6), f"{value:.3f}", fill="black")
    draw.line([(left, height - bottom), (width - right, height - bottom)], fill="black")
    draw.line([(left, top), (left, height - bottom)], fill="black")
    for tick in x_ticks:
        draw.text((px(tick) - 6, height - bottom + 6), f"{tick:g}", fill="black")
    draw.text(((left + width - right) / 2 - 60, height - 25), x_label, fill="black")
    draw.text((5, top - 20), y_label, fill="black")
    for i, (name, points) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        coords = [(px(x), py(y)) for x, y in sorted(points)]
        draw.line(coords, fill=colour, width=2)
        for cx, cy in coords:
            draw.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=colour)
        draw.rectangle([width - right + 12, top + 20 * i, width - right + 24, top + 20 * i + 12],
                       fill=colour)
        draw.text((width - right + 30, top + 20 * i), name, fill="black")
    image.save(path)
