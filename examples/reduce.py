"""Run the reduce application and write its figures.

Usage: python examples/reduce.py [OUTPUT_DIR]
(default OUTPUT_DIR: ./example-output/reduce)
"""

import sys

import matplotlib

matplotlib.use("Agg")

from somkit.apps import reduce  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "example-output/reduce"
result = reduce.run(random_state=0)
for path in result.save(out):
    print("wrote", path)
for key, value in result.metrics.items():
    print(f"{key}: {value}")
print(result.text)
