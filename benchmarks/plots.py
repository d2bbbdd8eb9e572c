"""Time against quantization error, one figure per workload (run.py calls it).

Every library that finished a workload is one marker: x = its full training
time (log scale), y = its QE, colour = its TE8 (share of samples whose two
best units are not 8-neighbours). Lower left is better; pale markers are
ordered maps. Markers are named in the legend; somkit's defaults
(``somkit_default``) are the large star. The QE axis spans 12% above the best
QE; worse maps sit on its top edge with their QE in the legend. Written under
``benchmarks/plots/`` as ``<workload>.png`` and linked from results.md.
"""

from __future__ import annotations

import os

#: TE8 at the top of the colour scale (anything above is drawn as it)
TE8_MAX = 0.25
#: QE axis: from the best QE to this much above it (worse maps at the top
#: edge, their QE in the legend)
QE_RANGE = 0.12
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "<", ">", "h", "p", "d")


def plot_workload(w, path):
    """One figure for workload record ``w`` of results.json; returns path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from somkit._atomic import save_figure

    rows = [r for r in w["results"] if r.get("full_s") and r.get("qe") is not None]
    rows.sort(key=lambda r: (not r["lib"].startswith("somkit"), r["lib"]))
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    norm = Normalize(0.0, TE8_MAX)
    cmap = plt.get_cmap("viridis_r")
    best = min(r["qe"] for r in rows)
    top = best * (1 + QE_RANGE)
    style = dict(cmap=cmap, norm=norm, edgecolors="black", linewidths=0.7, zorder=3)
    handles = []
    for k, r in enumerate(rows):
        name = r["lib"]
        big = name == "somkit_default"
        marker = "*" if big else MARKERS[k % len(MARKERS)]
        qe = min(r["qe"], top)
        label = f"{name} ({r.get('epochs') or w['epochs']} ep)"
        if r["qe"] > top:
            label += f", QE {r['qe']:.3g} (off scale)"
        te8 = [min(r.get("te8") or 0.0, TE8_MAX)]
        size = 320 if big else 80
        ax.scatter(r["full_s"], qe, c=te8, marker=marker, s=size, **style)
        handles.append(
            Line2D(
                [],
                [],
                marker=marker,
                linestyle="",
                markerfacecolor="lightgray",
                markeredgecolor="black",
                markersize=13 if big else 7,
                label=label,
            )
        )
    ax.set_ylim(best - 0.05 * (top - best), top + 0.05 * (top - best))
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=7.5,
        frameon=False,
    )
    ax.set_xscale("log")
    ax.margins(x=0.15)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("full training time, s (log scale)")
    ax.set_ylabel("quantization error (lower is better)")
    ax.set_title(
        f"{w['name']}: {w['n']} x {w['d']} on {w['grid'][0]}x{w['grid'][1]}",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    bar = fig.colorbar(sm, ax=ax, orientation="horizontal", pad=0.14, aspect=40)
    bar.set_label(f"marker colour: TE8, 8-neighbour topographic error (>= {TE8_MAX})")
    fig.tight_layout()
    save_figure(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write_all(doc, here, stem="results"):
    """A figure per workload of ``doc`` under ``here/plots``; {name: relpath}.

    results.md's figures are ``plots/<workload>.png``; other stems (a
    ``--out`` run) get ``plots/<stem>/<workload>.png``.
    """
    out = {}
    rel = "plots" if stem == "results" else f"plots/{stem}"
    os.makedirs(os.path.join(here, rel), exist_ok=True)
    for name, w in doc["workloads"].items():
        if any(r.get("full_s") for r in w["results"]):
            plot_workload(w, os.path.join(here, rel, f"{name}.png"))
            out[name] = f"{rel}/{name}.png"
    return out
