"""Run the deep-features application and write its figures.

Usage: python examples/deep_features.py [OUTPUT_DIR] [--images DIR] [--quick]
(default OUTPUT_DIR: ./example-output/deep_features). With --images, DIR holds
one subfolder of photos per class, used instead of scikit-image's photos.
Needs the deep extra: pip install 'somkit[deep]'.
"""

import argparse

import matplotlib

matplotlib.use("Agg")

from somkit.apps import deep_features  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("output", nargs="?", default="example-output/deep_features")
parser.add_argument("--images", default=None, help="folder of labelled photos")
parser.add_argument("--quick", action="store_true", help="fewer photos, faster")
args = parser.parse_args()

result = deep_features.run(random_state=0, quick=args.quick, images_dir=args.images)
for path in result.save(args.output):
    print("wrote", path)
for key, value in result.metrics.items():
    if not isinstance(value, str):
        print(f"{key}: {value:.4g}")
print(result.text)
