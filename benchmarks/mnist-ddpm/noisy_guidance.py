"""Classifier guidance with a noise-aware classifier (issue #17 lab script, session 35; the follow-up to
sampler_guidance.py, whose clean classifiers read the blurry x0 estimates of the noisy steps as eights). A small CNN
is trained here to tell the digit of a noised training digit x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps, t uniform (the
DDPM's own schedule; t enters as a second input channel t / T), on atu's 4,000 training digits, and saved to CKPT
(reused if it exists). Then the base is drawn on the bank's first N noises with Dhariwal & Nichol's guidance away
from the target: eps' = eps + s sqrt(1 - a_t) grad_{x_t} -log(1 - p(target | x_t, t)), at every step. From the
repository root:

    PYTHONPATH=$PWD OMP_NUM_THREADS=2 python benchmarks/mnist-ddpm/noisy_guidance.py CKPT 8 200 1,3,10 [OUT]

With DISTIL=K in the environment each row is instead a copy of the base fine-tuned for K steps on the guided
sampler's paths from 400 fresh noises (its guided eps at each state as the target; `distil`), drawn unguided.
"""
import json, os, sys, time
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
import atu
import atu.pipeline as P
from atu.data import mnist_split
from lab_common import guided_eps, noisy_logits, noisy_net, steered_ddim
from atu.metrics import classify, collateral_damage, others_changed, pul
from atu.sampling import side_by_side

ckpt, target, n, scales = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), [float(s) for s in sys.argv[4].split(",")]
G = atu.load_generator("checkpoints/mnist-ddpm").eval().requires_grad_(False)
T = G.scheduler.config.num_train_timesteps
ab = G.scheduler.alphas_cumprod


def noised(x0, gen):
    t = torch.randint(0, T, (x0.shape[0],), generator=gen)
    a = ab[t].view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * torch.randn(x0.shape, generator=gen), t


torch.manual_seed(0)
Cn = noisy_net()
if os.path.exists(ckpt):
    Cn.load_state_dict(torch.load(ckpt))
else:
    x, y = mnist_split("train")
    gen, opt, t0 = torch.Generator().manual_seed(0), torch.optim.AdamW(Cn.parameters(), 1e-3), time.time()
    for step in range(1200):   # the loss is flat from step 500 on (0.48-0.55: the noisiest steps are guesses)
        i = torch.randint(len(x), (128,), generator=gen)
        x_t, t = noised(x[i], gen)
        loss = F.cross_entropy(noisy_logits(Cn, x_t, t), y[i])
        opt.zero_grad(), loss.backward(), opt.step()
        if step % 300 == 0:
            print(f"step {step} loss {loss.item():.3f} {time.time() - t0:.0f} s", flush=True)
    torch.save(Cn.state_dict(), ckpt)
Cn.eval().requires_grad_(False)
xh, yh = mnist_split("heldout")
with torch.no_grad():
    for tt in (100, 300, 500, 700, 900):
        t = torch.full((len(xh),), tt)
        a = ab[tt]
        x_t = a.sqrt() * xh + (1 - a).sqrt() * torch.randn(xh.shape, generator=torch.Generator().manual_seed(tt))
        print(f"held-out accuracy at t = {tt}: {(noisy_logits(Cn, x_t, t).argmax(1) == yh).float().mean():.3f}")

C = P.load_model("checkpoints/mnist-classifier", kind="classifier")
E = P.load_model("checkpoints/mnist-classifier-b", kind="classifier")
z = next(iter(load_file("checkpoints/mnist-ddpm/latent_bank.safetensors").values()))[:n]


def draw(s, noises=None, record=None):
    """The base's 20-step DDIM images of `noises` (default: the bank's first N), guided at scale s; `record`: a list
    that receives (states, t, guided eps) of every step."""
    steer = (lambda x, t, eps: guided_eps(G, Cn, x, t, eps, s, target)) if s > 0 else None
    return steered_ddim(G, z if noises is None else noises, steer, record=record)


before = draw(0)
c0, e0 = classify(C, before), classify(E, before)
print("classes before, by C:", torch.bincount(c0, minlength=10).tolist(), flush=True)
def distil(s, n_paths=400, steps=400, lr=1e-4, batch=32):
    """A copy of the base fine-tuned to predict, at every state of the guided sampler's paths from n_paths fresh
    noises, the guided eps there (plain MSE, AdamW): the guided sampler distilled into the weights."""
    import copy
    rec = []
    draw(s, noises=torch.randn(n_paths, G.latent_dim, generator=torch.Generator().manual_seed(1)), record=rec)
    xs, ts, es = (torch.cat([r[i] for r in rec]) for i in range(3))
    model = copy.deepcopy(G).train().requires_grad_(True)
    opt, gen = torch.optim.AdamW(model.unet.parameters(), lr), torch.Generator().manual_seed(2)
    for _ in range(steps):
        i = torch.randint(len(xs), (batch,), generator=gen)
        loss = F.mse_loss(model.unet(xs[i], ts[i]).sample, es[i])
        opt.zero_grad(), loss.backward(), opt.step()
    model.eval().requires_grad_(False)
    with torch.no_grad():
        return torch.cat([model(zb) for zb in z.split(50)])


distil_steps = int(os.environ.get("DISTIL", "0"))   # DISTIL=400: measure the distilled model instead of the sampler
for s in scales:
    t0 = time.time()
    after = distil(s, steps=distil_steps) if distil_steps else draw(s)
    c1, e1 = classify(C, after), classify(E, after)
    print(json.dumps({"scale": s, "distil_steps": distil_steps, "pul": round(pul(int((c0 == target).sum()), int((c1 == target).sum())), 1),
                      "pul_B": round(pul(int((e0 == target).sum()), int((e1 == target).sum())), 1),
                      "collateral": round(collateral_damage(c0, c1, target, 10), 3),
                      "collateral_B": round(collateral_damage(e0, e1, target, 10), 3),
                      "others_changed": round(others_changed(c0, c1, target), 3), "seconds": round(time.time() - t0),
                      "classes_after_C": torch.bincount(c1, minlength=10).tolist()}), flush=True)
    if len(sys.argv) > 5:
        side_by_side(before[:32], after[:32]).save(f"{sys.argv[5]}-{s:g}.png")
