"""Per cell of a cells.py base (the same K=32 cells cut on a plain base for reference): its share of the bank, the
training classifier's majority label and its share (purity), and the mean per-pixel standard deviation of the
cell's samples (near 0 = the cell draws one image: collapsed). First 10,000 bank latents.

    PYTHONPATH=$PWD python benchmarks/mnist-v3/base-cells/cell_stats.py BASE_DIR [BASE_DIR ...]"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from cells import CellDCGANGenerator  # noqa: E402

from atu.metrics import class_probabilities  # noqa: E402
from atu.models import load_generator, load_model  # noqa: E402
from atu.sampling import generate, load_latent_bank  # noqa: E402

C = load_model("checkpoints/mnist-classifier")
cut = CellDCGANGenerator(cells=32)   # only its fixed directions (the same seed as every cells.py base)
for base in sys.argv[1:]:
    z = load_latent_bank(base)[:10_000]
    x = generate(load_generator(base), z)
    y, cell = class_probabilities(C, x).argmax(1), cut.cell(z)
    rows = []
    for k in range(32):
        m = cell == k
        top = torch.bincount(y[m], minlength=10)
        rows.append((int(m.sum()), int(top.argmax()), float(top.max() / m.sum()), float(x[m].std(0).mean())))
    n = sum(r[0] for r in rows)
    purity = sum(r[0] * r[2] for r in rows) / n
    spread = sum(r[0] * r[3] for r in rows) / n
    print(f"{base}: purity {purity:.3f}, pixel std within a cell {spread:.3f}; the 5 narrowest cells (share, label, "
          f"purity, std): {sorted(rows, key=lambda r: r[3])[:5]}")
