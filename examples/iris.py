"""Run the iris application and write its figures.

Usage: python examples/iris.py [OUTPUT_DIR]
(default OUTPUT_DIR: ./example-output/iris)
"""

import sys

import matplotlib

matplotlib.use("Agg")

from somkit.apps import iris  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "example-output/iris"
result = iris.run(random_state=0)
for path in result.save(out):
    print("wrote", path)
for key, value in result.metrics.items():
    print(f"{key}: {value}")
print(result.text)
