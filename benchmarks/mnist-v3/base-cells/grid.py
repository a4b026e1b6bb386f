"""Before | after on a cells.py base's own bank, first 64 latents, with both classifiers' labels of the first 32 and
what each still reads as the digit:

    PYTHONPATH=$PWD python benchmarks/mnist-v3/base-cells/grid.py BASE_DIR RUN_DIR DIGIT OUT.png"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import cells  # noqa: E402,F401  (registers the family)

from atu.metrics import class_probabilities  # noqa: E402
from atu.models import load_generator, load_model  # noqa: E402
from atu.sampling import generate, load_latent_bank, side_by_side  # noqa: E402

base, run, t, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
z = load_latent_bank(base)[:2000]
x0, x1 = generate(load_generator(base), z), generate(load_generator(run), z)
for name in ("mnist-classifier", "mnist-classifier-b"):
    C = load_model(f"checkpoints/{name}")
    y0, y1 = class_probabilities(C, x0).argmax(1), class_probabilities(C, x1).argmax(1)
    print(f"{name}: before {''.join(map(str, y0[:32].tolist()))} after {''.join(map(str, y1[:32].tolist()))}; "
          f"{t}s in 2,000: {int((y0 == t).sum())} -> {int((y1 == t).sum())}")
    if name == "mnist-classifier-b":
        left = (y1 == t).nonzero().flatten()[:32]
        if len(left):
            side_by_side(x0[left], x1[left]).save(out.replace(".png", "-still-by-evaluator.png"))
side_by_side(x0[:32], x1[:32]).save(out)
