"""Go on training the shipped MNIST GAN (checkpoints/mnist-dcgan: its raw G, D and EMA G, the base's own recipe) with
a sharpening term on G's samples read by the co-classifier `mnist-classifier-c` alone: WEIGHT x (the mean entropy of
its class probabilities - the entropy of their batch mean). The first part makes each sample one digit; the second
keeps the ten digits equally drawn (IMSAT / CatGAN's pair). Neither the training classifier (FID features, class
shares) nor the independent evaluator (the agreement bar) is read during training, so both bars are measured by
networks the generator never saw. WEIGHT 0 is the control: the same steps of the base's recipe alone.

    PYTHONPATH=$PWD python benchmarks/mnist-v3/base-sharpen/run.py WEIGHT STEPS [OUT]

(The runs in README.md ran with this script's own copy of the term, logged as h_sample and h_mean; it now takes the
term from atu.mnist.sharpening, the same sum, as `python -m atu train-gan --sharpen_weight` does.)

Prints one JSON line: the base's bars (atu.mnist.measure_base_gan on the 10,000 bank latents) and FID on the
evaluator's and the co-classifier's features too; OUT saves the GAN folder."""
import json
import sys
import time

from atu.data import mnist_split
from atu.metrics import fid
from atu.mnist import LATENT_BANK_SEED, GANRunConfig, _gan_init, measure_base_gan, sharpening
from atu.models import load_model
from atu.sampling import generate, load_latent_bank, save_latent_bank
from atu.train import GANTrainConfig, train_gan

weight, steps = float(sys.argv[1]), int(sys.argv[2])
out = sys.argv[3] if len(sys.argv) > 3 else ""
run_cfg = GANRunConfig(init="checkpoints/mnist-dcgan", sharpen_weight=weight)
G, D, G_ema, _ = _gan_init(run_cfg)
x, _ = mnist_split("train")
xh, _ = mnist_split("heldout")
cfg = GANTrainConfig(steps=steps, batch_size=128, augment_translate=0.125, augment_cutout=0.5, r1_gamma=0.05,
                     r1_every=16, ema_beta=0.999, seed=1, log_every=100, cpu=True)
t0 = time.time()
res = train_gan(G, D, x, cfg, G_ema=G_ema, g_fake_loss=sharpening(run_cfg) if weight > 0 else None)
C = load_model("checkpoints/mnist-classifier", kind="classifier")
B = load_model("checkpoints/mnist-classifier-b", kind="classifier")
latents = load_latent_bank("checkpoints/mnist-dcgan")
m = measure_base_gan(res.G_ema, C, latents, x, xh, floor=False, evaluator=B)
fake = generate(res.G_ema, latents)
line = {"weight": weight, "steps": steps, "seconds": round(time.time() - t0), "fid": m["fid"],
        "fid_evaluator": fid(xh, fake, B)["fid"],
        "fid_co": fid(xh, fake, load_model("checkpoints/mnist-classifier-c", kind="classifier"))["fid"],
        "agreement": m["classifier_agreement"], "class_fractions": m["class_fractions"],
        "last": {k: round(float(v), 4) for k, v in res.history[-1].items()}}
if out:   # a GAN folder as train-gan writes it (EMA G, raw G, D, the bank): `python -m atu.bench mnist --model OUT`
    res.save_networks(out)
    save_latent_bank(latents, out, LATENT_BANK_SEED)
print(json.dumps(line), flush=True)
