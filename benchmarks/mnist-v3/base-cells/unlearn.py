"""stage2-options/run.py on a base trained by cells.py (its "dcgan-cells" family registered first):

    PYTHONPATH=$PWD python benchmarks/mnist-v3/base-cells/unlearn.py DIGIT SEED 'model="DIR"' [section.field=value ...]"""
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import cells  # noqa: E402,F401  (registers the family)

sys.argv[0] = str(Path(__file__).parents[1] / "stage2-options" / "run.py")
runpy.run_path(sys.argv[0], run_name="__main__")
