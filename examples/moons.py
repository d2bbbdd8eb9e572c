"""Run the moons application and write its figures.

Usage: python examples/moons.py [OUTPUT_DIR]
(default OUTPUT_DIR: ./example-output/moons)
"""

import sys

import matplotlib

matplotlib.use("Agg")

from somkit.apps import moons  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "example-output/moons"
result = moons.run(random_state=0)
for path in result.save(out):
    print("wrote", path)
for key, value in result.metrics.items():
    print(f"{key}: {value}")
print(result.text)
