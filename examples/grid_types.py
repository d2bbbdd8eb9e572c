"""Run the grid-types application and write its figures.

Usage: python examples/grid_types.py [OUTPUT_DIR]
(default OUTPUT_DIR: ./example-output/grid_types)
"""

import sys

import matplotlib

matplotlib.use("Agg")

from somkit.apps import grid_types  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "example-output/grid_types"
result = grid_types.run(random_state=0)
for path in result.save(out):
    print("wrote", path)
for key, value in result.metrics.items():
    print(f"{key}: {value}")
print(result.text)
