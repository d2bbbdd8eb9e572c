"""Flow and mass cytometry: FCS files, arcsinh, FlowSOM, per-sample tables.

The FlowSOM method (Van Gassen et al. 2015, Cytometry A 87:636) on somkit's
maps: a 10 x 10 self-organizing map of the cells, consensus metaclustering of
its units, then per-file abundances and median marker intensities.

Functions and classes
---------------------
read_fcs, read_fcs_files
    FCS 2.0/3.0/3.1 files as DataFrames (channels named by marker).
arcsinh
    The usual transform (cofactor 5 for mass, 150 for flow cytometry).
FlowSOM
    The estimator (``fit``, ``predict``, ``som_``, ``unit_metaclusters_``).
load_flowsom
    Read a model written by :meth:`FlowSOM.save`.
consensus_cluster
    ConsensusClusterPlus-style consensus clustering of any items.
abundances, marker_medians
    Per-sample tables for group comparisons.
make_cytometry
    Synthetic cells with known populations (lineages, rare subsets).
to_anndata, from_anndata
    scverse interchange (needs ``anndata``).

Examples
--------
>>> from somkit.cytometry import FlowSOM, make_cytometry
>>> X, y = make_cytometry(4000, 8, 4, rare=(), n_lineages=4, random_state=1)
>>> FlowSOM(n_clusters=4, grid=(5, 5), random_state=0).fit_predict(X).shape
(4000,)
"""

__all__ = [
    "FlowSOM",
    "abundances",
    "arcsinh",
    "consensus_cluster",
    "from_anndata",
    "load_flowsom",
    "make_cytometry",
    "marker_medians",
    "read_fcs",
    "read_fcs_files",
    "to_anndata",
]

# Imported on first use, so that `somkit --help` (which registers the
# cytometry command) does not import scikit-learn, scipy or pandas.
_WHERE = {
    "FlowSOM": "_flowsom",
    "abundances": "_tables",
    "arcsinh": "_transforms",
    "consensus_cluster": "_consensus",
    "from_anndata": "_fcs",
    "load_flowsom": "_model",
    "make_cytometry": "_synthetic",
    "marker_medians": "_tables",
    "read_fcs": "_fcs",
    "read_fcs_files": "_fcs",
    "to_anndata": "_fcs",
}


def __getattr__(name):
    if name in _WHERE:
        import importlib

        return getattr(
            importlib.import_module(f"somkit.cytometry.{_WHERE[name]}"), name
        )
    raise AttributeError(f"module 'somkit.cytometry' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
