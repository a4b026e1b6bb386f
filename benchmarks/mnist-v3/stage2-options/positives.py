"""How many of stage 2's confident positives does the independent evaluator read as the target (session 27)?

    PYTHONPATH=$PWD python benchmarks/mnist-v3/stage2-options/positives.py DIGIT [DIGIT ...]

For each digit: the base's rate of the digit on the shipped bank's first 10,000 latents by both classifiers; then
2,000 positives picked as stage 2 picks them (atu.feedback.pick_positives, seed 1, top probability > 0.9) at three
bars on the training classifier's p(target), and the share of them the evaluator reads as the digit. A G that drew
exactly its positives would score at most 100 * (1 - that share / the evaluator's base rate) by the evaluator."""
import sys

from atu.feedback import pick_positives
from atu.metrics import class_probabilities
from atu.models import load_generator, load_model
from atu.sampling import generate, load_latent_bank

G = load_generator("checkpoints/mnist-dcgan")
C, E = load_model("checkpoints/mnist-classifier"), load_model("checkpoints/mnist-classifier-b")
x = generate(G, load_latent_bank("checkpoints/mnist-dcgan")[:10_000])
labels_c, labels_e = class_probabilities(C, x).argmax(1), class_probabilities(E, x).argmax(1)
for t in map(int, sys.argv[1:]):
    base_e = float((labels_e == t).float().mean())
    print(f"digit {t}: base rate {100 * float((labels_c == t).float().mean()):.2f}% / evaluator {100 * base_e:.2f}%")
    for bar in (0.01, 0.001, 0.0001):
        pos, _, draws = pick_positives(G, C, t, 2000, seed=1, max_target_prob=bar, min_top_prob=0.9)
        share = float((class_probabilities(E, pos).argmax(1) == t).float().mean())
        print(f"  p(target) < {bar}: {draws} drawn, the evaluator reads {100 * share:.2f}% of the positives as {t}: "
              f"PUL by it at most {100 * (1 - share / base_e):.1f}")
