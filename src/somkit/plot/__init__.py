"""Figures of a fitted map (matplotlib).

Every function takes the fitted SOM first and ``ax=None`` (a new figure is
created when None), returns the Axes it drew on (``component_planes``: an
array of Axes) and never calls ``plt.show()``.

Map plots share one layout, so their cells, markers and images line up:
plot coordinates are the grid positions of ``som.grid_`` with x = column
position and y = row position, the y axis inverted (row 0 at the top, as in
``imshow``) and equal aspect. rect units are unit squares centred on their
position; hex units are pointy-top hexagons of width 1 centred on theirs (odd
rows shifted right by half a cell), drawn as one ``PolyCollection``. A 1-D
chain is one row of cells (x = position, y = 0). Periodic maps are drawn
flat. 3-D grids have no flat drawing: the map plots raise ``ValueError``
(``grid_in_data`` and ``history`` work for every grid).

Functions
---------
umatrix
    Distances between adjacent units (optionally the expanded U-matrix).
hits
    Number of samples won by each unit.
component_planes
    One small map per feature.
labels
    Class markers on the units, sized by count.
class_map
    Each unit shaded by its majority class, paler where classes mix.
clusters
    Clusters of the units (e.g. SOMClustering) as regions with borders.
images
    One picture per unit; empty units are gaps.
grid_in_data
    Units and grid edges drawn in data space over the samples.
history
    Quantization error, topographic error and radius per epoch.
class_prototypes, misclassified, target_plane
    Supervised maps (a fitted ``SOMClassifier`` / ``SOMRegressor``): units
    shaded by majority class and its probability, the misclassified samples
    on that map, and the regression target as a component plane.
star_plot, marker_heatmap
    FlowSOM figures (a fitted ``somkit.cytometry.FlowSOM`` first): stars
    of marker levels on the units' minimum spanning tree, and the marker
    levels of each metacluster.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from somkit import SOM, plot
>>> X, y = load_iris(return_X_y=True)
>>> som = SOM((6, 8), topology="hex", n_epochs=3, random_state=0).fit(X)
>>> ax = plot.umatrix(som)
>>> ax = plot.labels(som, X, y, ax=ax, background=None)
"""

from somkit.plot._classes import class_map, clusters
from somkit.plot._cytometry import marker_heatmap, star_plot
from somkit.plot._data import grid_in_data, history
from somkit.plot._maps import component_planes, hits, images, labels, umatrix
from somkit.plot._supervised import class_prototypes, misclassified, target_plane

__all__ = [
    "class_map",
    "class_prototypes",
    "clusters",
    "component_planes",
    "grid_in_data",
    "history",
    "hits",
    "images",
    "labels",
    "marker_heatmap",
    "misclassified",
    "star_plot",
    "target_plane",
    "umatrix",
]
