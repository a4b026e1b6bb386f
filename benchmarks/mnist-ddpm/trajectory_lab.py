"""Stage 2 on the sampler's own states (issue #17 lab script, not part of the package).

Hypothesis: the DDPM's collateral comes from where the negative terms act. The catalog's raise and redirect terms
work on q-noised negatives, x_t = sqrt(a_t) x_neg + sqrt(1 - a_t) eps with a fresh eps, at t >= 500. At high t such a
state is not one the deterministic sampler would take to the target: it is a generic noisy state, from which the
base goes to any digit, so changing the model there moves other digits too. Here the terms act instead on the
states the DDIM sampler actually visits (its trajectories from fixed training noises, recorded with the base's
predictions), and the positives can be anchored on their own trajectories (the base's predictions as targets).

Every variant runs its own stage 2 in a small loop written here (the catalog's terms, written out), on the same
stage 1, and is measured like the bench (atu.pipeline.measure on the bank's first N latents). Run from the root:

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/mnist-ddpm/trajectory_lab.py checkpoints/mnist-ddpm 8 0 500 \
        '{"catalog": {}, "traj": {"red_q": 0, "red_traj": 1}}' runs/x
"""
import copy, dataclasses, json, sys, time
import torch
import torch.nn.functional as F
import atu.pipeline as P
from lab_common import lab_config, record_generate
from atu.bench import method_config
from atu.diffusion import posterior_mean
from atu.feedback import confident_mask
from atu.sampling import make_latent_bank, side_by_side
from atu.losses import bounded_negative
from atu.metrics import class_probabilities
from atu.pipeline import adapt_stage, load_base, make_probe, measure, pick_negatives
from atu.train import accumulate
from atu.adapt import unflatten
from atu.unlearn import adapted_sampler, repulsion_loss

model, target, seed, n_eval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
variants = json.loads(sys.argv[5])
out = sys.argv[6]
cfg = lab_config(model, target, seed, n_eval)
cfg = method_config(cfg, "el2")
u = cfg.unlearn
base = load_base(cfg)
G, D, C = base
torch.manual_seed(seed)
t0 = time.time()
negatives = pick_negatives(G, C, cfg.target, cfg.n_negatives, seed=cfg.seed)
theta_N = adapt_stage(cfg, base, negatives, lambda e: None, make_probe(cfg, G, C))
print(f"stage 1 {time.time() - t0:.0f} s", flush=True)


@torch.no_grad()
def trajectories(net, z):
    """(states (N, S, 1, 32, 32), timesteps (S,), predictions (N, S, ...), final images) of DDIM from noise z."""
    net = copy.deepcopy(net).eval()
    sched = net.sampler()
    xs, eps_all, finals = [], [], []
    for zb in z.split(100):
        x = zb.reshape(zb.shape[0], *net.image_shape)
        states, preds = [], []
        for t in sched.timesteps:
            e = net.unet(x, t).sample
            states.append(x), preds.append(e)
            x = sched.step(e, t, x, eta=0.0).prev_sample
        xs.append(torch.stack(states, 1)), eps_all.append(torch.stack(preds, 1)), finals.append(x.clamp(-1, 1))
    return torch.cat(xs), sched.timesteps.clone(), torch.cat(eps_all), torch.cat(finals)


t0 = time.time()
z_train = make_latent_bank(1000, G.latent_dim, 777_000 + seed)   # not the evaluation bank (measure's)
X, ts, E_base, imgs = trajectories(G, z_train)
probs = class_probabilities(C, imgs)
pos_mask = confident_mask(probs, target, u.pos_max_target_prob, u.pos_min_top_prob)
neg_mask = probs.argmax(1) == target
pos_idx, base_neg_idx = pos_mask.nonzero().flatten()[:u.n_positives], neg_mask.nonzero().flatten()
positives = imgs[pos_idx]
print(f"base trajectories {time.time() - t0:.0f} s: {len(pos_idx)} confident positives, {len(base_neg_idx)} "
      f"labelled {target}", flush=True)
adapted = copy.deepcopy(G)
with torch.no_grad():
    for p, v in zip(adapted.parameters(), unflatten(theta_N[0], G)):
        p.copy_(v)
z_adapt = make_latent_bank(u.neg_pool, G.latent_dim, 888_000 + seed)
XA, _, _, imgs_A = trajectories(adapted, z_adapt)
rate_A = float((probs_A := class_probabilities(C, imgs_A)).argmax(1).eq(target).float().mean())
print(f"adapted trajectories: {rate_A:.2f} of its samples labelled {target}", flush=True)
q_pool = adapted_sampler(G, theta_N, seed=u.seed + 17)(u.neg_pool)   # the catalog's pool (q-noised negatives)
alphas = G.scheduler.alphas_cumprod
high = (ts >= u.redirect_t_min).nonzero().flatten()   # trajectory steps at t >= 500


def pick(n, rows, cols, gen):
    i = rows[torch.randint(len(rows), (n,), generator=gen)]
    k = cols[torch.randint(len(cols), (n,), generator=gen)]
    return i, k


def redirect_at(net, x_t, t):
    a = alphas[t].view(-1, 1, 1, 1)
    target_eps = (x_t - a.sqrt() * posterior_mean(x_t, a, positives)) / (1 - a).sqrt()
    return F.mse_loss(net.unet(x_t, t).sample, target_eps)


def stage2(v):
    w = {"pos_q": 1.0, "pos_traj": 0.0, "red_q": u.redirect_weight, "red_traj": 0.0, "raise_q": u.neg_weight,
         "traj_source": "adapted", "el2": u.el2_weight, "steps": u.steps, "pos_traj_n": len(pos_idx), **v}
    net = copy.deepcopy(G).train()
    teacher = copy.deepcopy(G).eval().requires_grad_(False)
    ema = copy.deepcopy(G).eval().requires_grad_(False)
    repel, d0 = repulsion_loss(net, theta_N, dataclasses.replace(u, el2_weight=w["el2"]))
    opt = torch.optim.AdamW(net.parameters(), lr=u.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        cap = u.neg_cap * float(net.denoising_loss(q_pool[:64], torch.Generator().manual_seed(seed),
                                                   t_min=u.neg_t_min))
    traj_X = XA if w["traj_source"] == "adapted" else X
    traj_rows = (torch.arange(len(XA)) if w["traj_source"] == "adapted" else base_neg_idx)
    all_steps = torch.arange(len(ts))
    bs, nb = u.batch_size, u.batch_size // 2
    for step in range(w["steps"]):
        total = 0.0
        if w["pos_q"]:
            x = positives[torch.randint(len(positives), (bs,), generator=gen)]
            total = total + w["pos_q"] * net.denoising_loss(x, gen, teacher=teacher)
        if w["pos_traj"]:
            i, k = pick(bs, pos_idx[:w["pos_traj_n"]], all_steps, gen)
            total = total + w["pos_traj"] * F.mse_loss(net.unet(X[i, k], ts[k]).sample, E_base[i, k])
        if w["red_q"] or w["raise_q"]:
            x_neg = q_pool[torch.randint(len(q_pool), (nb,), generator=gen)]
            if w["red_q"]:
                total = total + w["red_q"] * net.redirect_loss(x_neg, positives, gen, t_min=u.redirect_t_min)
            if w["raise_q"]:
                total = total + w["raise_q"] * bounded_negative(net.denoising_loss(x_neg, gen, t_min=u.neg_t_min), cap)
        if w["red_traj"]:
            i, k = pick(nb, traj_rows, high, gen)
            total = total + w["red_traj"] * redirect_at(net, traj_X[i, k], ts[k])
        if w["el2"]:
            total = total + repel(net)[0]
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        accumulate(ema, net, u.ema_beta)
    return ema


seen = record_generate()   # the images measure() last drew of each model
EV = P.load_model(P.evaluator_path(cfg), kind="classifier")
for name, v in variants.items():
    t1 = time.time()
    after = stage2(v)
    t2 = time.time()
    m = measure(cfg, G, after, C)
    print(f"{name:>20}: PUL {m['pul']:6.2f} / B {m.get('pul_independent', -1):6.2f}  FIDx {m['fid_ratio']:.2f} "
          f"coll {m['collateral']:.3f} others {m['others_changed']:.3f} stage2 {t2 - t1:.0f} s  {v}", flush=True)
    mix = [[torch.bincount(P.classify(c, seen[id(g)]), minlength=10).tolist() for c in (C, EV)] for g in (G, after)]
    print(f"{'':>20}  C: {mix[0][0]} -> {mix[1][0]}\n{'':>20}  B: {mix[0][1]} -> {mix[1][1]}", flush=True)
    side_by_side(seen[id(G)][:32], seen[id(after)][:32]).save(f"{out}-{name}.png")
