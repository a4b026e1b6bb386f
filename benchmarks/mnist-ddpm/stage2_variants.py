"""Stage-2 variants on the MNIST DDPM for one digit (issue #17 lab script, not part of the package): stage 1 once
(the catalog's standard preset), then each variant of stage 2 measured on the bank's first N latents, with a
before/after grid of the first 32 (OUT-<name>.png); an optional last argument is the seed (default 0: stage 1's
negatives, the positives, stage 2). A variant's "guide": {"weight": w, "batch": b} adds the GAN's classifier guide
in its DDPM form (session 26): w * -log(1 - p_C(target)) on the model's own DDIM samples (20 steps, backpropagated
through every step) of b noises a step, drawn from 64 fresh noises the base draws as the target; "package": true
computes it with atu.losses.guide_loss (session 27; without it, session 26's hand-written form, p clipped at
1 - 1e-6, which leaves about half the noises without a gradient at the start). A variant's "noisy_anchor": {"ckpt":
CKPT, "scale": s, "paths": n} (session 35) makes the anchor (unlearn.anchor_weight, which the variant sets) hold the
base's paths from n fresh noises guided at scale s by noisy_guidance.py's noise-aware classifier CKPT: the guided
eps at every state is the target, so stage 2 distils the guided sampler beside its own terms. Run from the
repository root:

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/mnist-ddpm/stage2_variants.py checkpoints/mnist-ddpm 8 500 \
        '{"el2w1-noneg-base": {"method": "el2-noneg", "unlearn.pos_target": "base", "unlearn.el2_weight": 1.0}}' runs/x
"""
import copy, dataclasses, sys, time, json
import torch
import atu.pipeline as P
import atu.unlearn as U
from atu.losses import guide_loss
from lab_common import guided_path, lab_config, noisy_net, record_generate
from atu.bench import method_config
from atu.pipeline import load_base, pick_negatives, adapt_stage, unlearn_stage, measure, make_probe
from atu.sampling import side_by_side

model, target, n_eval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
variants = json.loads(sys.argv[4])   # {name: {"method": "el2", "unlearn.x": v, ...}}
out = sys.argv[5]
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 0
cfg = lab_config(model, target, seed, n_eval)
base = load_base(cfg)
G, D, C = base
t0 = time.time()
negatives = pick_negatives(G, C, cfg.target, cfg.n_negatives, seed=cfg.seed)
theta_N = adapt_stage(cfg, base, negatives, lambda e: None, make_probe(cfg, G, C))
print(f"stage 1 {time.time()-t0:.0f} s", flush=True)
positives = None
seen = record_generate()   # the images measure() last drew of each model
E = P.load_model(P.evaluator_path(cfg), kind="classifier")


GUIDE = {}   # the running variant's "guide" settings (empty: off)
repulsion_loss = U.repulsion_loss


def guided_repulsion_loss(model_, theta_N_, cfg_):
    """atu.unlearn.repulsion_loss plus, when GUIDE is set, the classifier guide on the model's own samples of the
    target noises (unlearn_ddpm adds this extra loss to its objective at every step)."""
    repel, d0 = repulsion_loss(model_, theta_N_, cfg_)
    if not GUIDE:
        return repel, d0
    gen = torch.Generator().manual_seed(cfg_.seed + 31)

    def loss(g):
        term, logs = repel(g)
        z = target_noises[torch.randint(len(target_noises), (GUIDE["batch"],), generator=gen)]
        logits = C_frozen(g(z))
        if GUIDE.get("package"):   # atu.losses.guide_loss: stable from the logits, a gradient on every noise
            guide = guide_loss(logits, target)
        else:                      # session 26's rows as they ran: p clipped at 1 - 1e-6 (no gradient above it)
            p = torch.softmax(logits, 1)[:, target]
            guide = -torch.log1p(-p.clamp(max=1 - 1e-6)).mean()
        return term + GUIDE["weight"] * guide, {**logs, "guide": guide.detach()}

    return loss, d0


U.repulsion_loss = guided_repulsion_loss
C_frozen = copy.deepcopy(C).eval().requires_grad_(False)
gen_t, found = torch.Generator().manual_seed(seed + 1000), []
while any("guide" in v for v in variants.values()) and sum(len(f) for f in found) < 64:
    zz = torch.randn(250, G.latent_dim, generator=gen_t)   # fresh noises (not the bank's) the base draws as the target
    found.append(zz[P.classify(C, P.generate(G, zz)) == target])
target_noises = torch.cat(found)[:64] if found else None


def mix(g):
    return [torch.bincount(P.classify(c, seen[id(g)]), minlength=10).tolist() for c in (C, E)]

import atu.diffusion
anchor_path = atu.diffusion.anchor_path
for name, v in variants.items():
    GUIDE.clear(), GUIDE.update(v.pop("guide", {}))
    atu.diffusion.anchor_path = anchor_path
    if "noisy_anchor" in v:   # session 35: the anchor holds the base's paths guided by a noise-aware classifier
        na = v.pop("noisy_anchor")   # {"ckpt": noisy_guidance.py's CKPT, "scale": s, "paths": n}
        Cn = noisy_net()
        Cn.load_state_dict(torch.load(na["ckpt"]))
        Cn.eval().requires_grad_(False)
        z_paths = torch.randn(na["paths"], G.latent_dim, generator=torch.Generator().manual_seed(seed + 2000))
        path = guided_path(G, Cn, target, z_paths, na["scale"])
        atu.diffusion.anchor_path = lambda *a, path=path, **k: path   # unlearn_stage's anchor paths
        v = {"unlearn.anchor_pool": na["paths"], **v}
    c = method_config(cfg, v.pop("method", "el2"))
    u = dataclasses.replace(c.unlearn, **{k.split(".", 1)[1]: x for k, x in v.items() if k.startswith("unlearn.")})
    c = dataclasses.replace(c, unlearn=u)
    t1 = time.time()
    res, positives = unlearn_stage(c, base, theta_N, lambda e: None, lambda g: {}, positives, negatives=negatives)
    t2 = time.time()
    m = measure(c, G, res.G_ema, C)
    print(f"{name:>24}: PUL {m['pul']:7.2f} / B {m.get('pul_independent', -1):7.2f}  FIDx {m['fid_ratio']:.2f} "
          f"coll {m['collateral']:.3f} others {m['others_changed']:.3f} rate {m['neg_rate_before']:.3f}->{m['neg_rate_after']:.3f} "
          f"stage2 {t2-t1:.0f} s  d_end {res.history[-1].get('distance')}", flush=True)
    (a0, b0), (a1, b1) = mix(G), mix(res.G_ema)
    print(f"{'':>24}  classes by C: {a0} -> {a1}\n{'':>24}  classes by B: {b0} -> {b1}", flush=True)
    side_by_side(seen[id(G)][:32], seen[id(res.G_ema)][:32]).save(f"{out}-{name}.png")   # the bank's first 32
    # what our classifier still calls the target after, beside the same latents before (where C and B disagree,
    # the pictures decide)
    left = (P.classify(C, seen[id(res.G_ema)]) == target).nonzero().flatten()[:32]
    if len(left):
        side_by_side(seen[id(G)][left], seen[id(res.G_ema)][left]).save(f"{out}-{name}-still-{target}-by-C.png")
