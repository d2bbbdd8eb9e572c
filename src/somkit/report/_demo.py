"""The page linking the seed applications' figures (``somkit demo``)."""

from __future__ import annotations

from pathlib import Path

from somkit.report._html import esc as _esc
from somkit.report._html import page as _page
from somkit.report._html import table as _table


def write_demo_index(entries, directory, skipped=()):
    """Write ``directory/index.html`` linking the demo figures.

    Parameters
    ----------
    entries : list of (AppResult, list of str, float)
        Each application's result, its figure paths relative to
        ``directory`` and its run time in seconds.
    directory : str or Path
    skipped : list of (name, reason)
        Applications that could not run (e.g. a missing extra).

    Returns
    -------
    path : Path
    """
    directory = Path(directory)
    parts = [
        "<h1>somkit demo</h1>",
        '<p class="sub">The seed applications of somkit: what self-organizing '
        "maps do on small, well-known data sets. Each section shows the figures "
        "one application made, what they show and the numbers it measured.</p>",
    ]
    if entries:
        parts.append(
            "<nav>"
            + " ".join(
                f'<a href="#{_esc(r.name)}">{_esc(r.name)}</a>' for r, _, _ in entries
            )
            + "</nav>"
        )
    for result, paths, seconds in entries:
        section = [
            f'<section id="{_esc(result.name)}">',
            f"<h2>{_esc(result.title)}</h2>",
        ]
        if result.text:
            for para in str(result.text).split("\n\n"):
                section.append(f"<p>{_esc(para.strip())}</p>")
        rows = [(k, v) for k, v in result.metrics.items()]
        rows.append(("run time (s)", float(seconds)))
        section.append(_table(rows, header=("measure", "value")))
        for rel in paths:
            stem = Path(rel).stem
            section.append(
                f'<figure><a href="{_esc(rel)}"><img src="{_esc(rel)}" '
                f'alt="{_esc(result.name)}: {_esc(stem)}"></a>'
                f"<figcaption>{_esc(stem.replace('_', ' '))}</figcaption></figure>"
            )
        section.append("</section>")
        parts.append("\n".join(section))
    if skipped:
        items = "".join(
            f"<li><b>{_esc(name)}</b>: {_esc(reason)}</li>" for name, reason in skipped
        )
        parts.append(
            f'<section id="skipped">\n<h2>Not run</h2>\n<ul>{items}</ul>\n</section>'
        )
    path = directory / "index.html"
    from somkit._atomic import atomic_write

    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write(_page("somkit demo", "\n".join(parts)))
    return path
