"""Rendering a report: its sections as Markdown (figures as PNG files beside it), as one
self-contained HTML page (figures embedded, opens offline), and tables as console text."""

from __future__ import annotations

import base64
import html
import io
import math
import re
from dataclasses import dataclass, field

import pandas as pd

from analysis import plots


@dataclass
class Section:
    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    figure: str | None = None  # file name of a PNG in the output folder
    figure_png: bytes = b""
    bullets: list[str] = field(default_factory=list)


def round_table(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].map(lambda v: v if not math.isfinite(v) else float(f"{v:.4g}"))
    return out


def markdown(header: list[str], sections: list[Section]) -> str:
    lines = ["# lossbench report", "", *[f"{h}\n" for h in header]]
    for s in sections:
        lines += [f"## {s.title}", ""]
        if s.text:
            lines += [s.text, ""]
        if s.bullets:
            lines += [*[f"* {b}" for b in s.bullets], ""]
        if s.table is not None:
            lines += [markdown_table(s.table), ""]
        if s.figure:
            lines += [f"![{s.title}]({s.figure})", ""]
    return "\n".join(lines)


def markdown_table(frame: pd.DataFrame) -> str:
    def text(v: object) -> str:
        text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
        return text.replace("|", "\\|")

    head = "| " + " | ".join(text(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(text(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


_CODE = re.compile(r"`([^`]+)`")


def inline(text: str) -> str:
    """Escaped HTML of a line of report text, its `code` spans as <code>."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


def html_page(header: list[str], sections: list[Section], experiment: str) -> str:
    body = [f"<h1>lossbench report: {html.escape(experiment)}</h1>"]
    body += [f"<p class='h'>{inline(h)}</p>" for h in header]
    for s in sections:
        body.append(f"<h2>{html.escape(s.title)}</h2>")
        body += [f"<p>{inline(p)}</p>" for p in s.text.split("\n\n") if p]
        if s.bullets:
            body.append("<ul>" + "".join(f"<li>{inline(b)}</li>" for b in s.bullets) + "</ul>")
        if s.table is not None:
            body.append(s.table.to_html(index=False, border=0, classes="t", na_rep=""))
        if s.figure_png:
            data = base64.b64encode(s.figure_png).decode()
            body.append(f'<img alt="{html.escape(s.title)}" src="data:image/png;base64,{data}">')
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
        "p.h{color:#555;font-size:13px;margin:0.2em 0}li{margin:0.4em 0}"
        "table.t{border-collapse:collapse;font-size:12px}table.t td,table.t th{padding:2px 6px;"
        "border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}"
        "code{background:#f3f3f3;padding:0 2px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>lossbench: "
        f"{html.escape(experiment)}</title><style>{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )


def render_text(frame: pd.DataFrame) -> str:
    """Plain-text table for the terminal."""
    return round_table(frame).to_string(index=False)


def figure_png(index: int, fig: plots.Figure | None) -> tuple[str | None, bytes]:
    """`fig` as `figure_<index>.png`: (file name, PNG bytes), or (None, b"") for none."""
    if fig is None:
        return None, b""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plots.plt.close(fig)
    return f"figure_{index}.png", buf.getvalue()
