"""Run the breast-cancer application and write its figures.

Usage: python examples/breast_cancer.py [OUTPUT_DIR]
(default OUTPUT_DIR: ./example-output/breast_cancer)
"""

import sys

import matplotlib

matplotlib.use("Agg")

from somkit.apps import breast_cancer  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "example-output/breast_cancer"
result = breast_cancer.run(random_state=0)
for path in result.save(out):
    print("wrote", path)
for key, value in result.metrics.items():
    print(f"{key}: {value}")
print(result.text)
