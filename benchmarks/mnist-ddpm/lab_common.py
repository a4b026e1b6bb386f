"""Shared by the lab scripts in this folder (imported from beside them: Python puts a script's folder on sys.path)."""
import dataclasses

import atu.pipeline as P


def lab_config(model: str, target: int, seed: int, n_eval: int):
    """The bench's config for one digit and seed (atu.bench.mnist_config, every stage's seed set by with_seed, as the
    bench's rows), measured on the bank's first n_eval latents. The lab scripts once set only the run's seed, so on
    seeds 1 and 2 stage 2 ran with unlearn.seed 0: the bench's stage 1, another stage-2 draw (session 37)."""
    from atu.bench import mnist_config

    cfg = dataclasses.replace(mnist_config("checkpoints/mnist-ddpm"), model=model, target=target,
                              feature=f"digit {target}", eval_latents=n_eval)
    return cfg.with_seed(seed)


def record_generate() -> dict:
    """Patch atu.pipeline.generate so that seen[id(model)] holds the images it last drew of that model; measure()
    draws the bank through it, so the class mixes and the grids come from the very images the metrics saw."""
    seen, generate = {}, P.generate

    def recording(g, z):
        seen[id(g)] = generate(g, z)
        return seen[id(g)]

    P.generate = recording
    return seen


# --- a noise-aware digit classifier (session 35: noisy_guidance.py, stage2_variants.py's "noisy_anchor") ---------

def noisy_net():
    """A small CNN on (x_t, t / T) as two input channels: the digit of a noised image."""
    import torch.nn as nn

    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.GroupNorm(8, o), nn.SiLU()]
    return nn.Sequential(*block(2, 32), *block(32, 32), nn.AvgPool2d(2), *block(32, 64), *block(64, 64), nn.AvgPool2d(2),
                         *block(64, 128), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(128 * 16, 128), nn.SiLU(), nn.Linear(128, 10))


def noisy_logits(Cn, x_t, t, T=1000):
    import torch
    return Cn(torch.cat([x_t, (t.float() / T).view(-1, 1, 1, 1).expand_as(x_t)], 1))


def guided_eps(G, Cn, x, t, eps, s, target):
    """Dhariwal & Nichol's guidance away from `target`: eps + s sqrt(1 - a_t) grad_{x_t} -log(1 - p(target | x_t, t))."""
    import torch
    from atu.losses import guide_loss
    xg = x.detach().requires_grad_(True)
    tt = torch.full((x.shape[0],), int(t))
    grad, = torch.autograd.grad(guide_loss(noisy_logits(Cn, xg, tt), target) * x.shape[0], xg)
    return eps + s * (1 - G.scheduler.alphas_cumprod[int(t)]).sqrt() * grad


def steered_ddim(G, noises, steer=None, batch=50, record=None):
    """The base's 20-step DDIM images of `noises`, each step's eps replaced by steer(x, t, eps) where one is given
    (it returns the new eps); `record`, a list, receives (states, t, eps) of every step. The lab scripts' one sampler."""
    import torch
    out = []
    for zb in noises.split(batch):
        x, sched = zb.reshape(-1, *G.image_shape), G.sampler()
        for t in sched.timesteps:
            with torch.no_grad():
                eps = G.unet(x, t).sample
            if steer is not None:
                eps = steer(x, t, eps).detach()
            if record is not None:
                record.append((x.detach(), torch.full((x.shape[0],), int(t)), eps))
            x = sched.step(eps, t, x, eta=0.0).prev_sample
        out.append(x.clamp(-1, 1).detach())
    return torch.cat(out)


def guided_path(G, Cn, target, noises, s, batch=50):
    """The base's guided DDIM paths from `noises`: an atu.diffusion.SamplerPath whose preds are the guided eps."""
    import torch
    from atu.diffusion import SamplerPath
    rec = []
    images = steered_ddim(G, noises, lambda x, t, eps: guided_eps(G, Cn, x, t, eps, s, target), batch, rec)
    ts = G.sampler().timesteps
    per_batch = [rec[i:i + len(ts)] for i in range(0, len(rec), len(ts))]   # rec holds each batch's steps in turn
    states, preds = (torch.cat([torch.stack([r[k] for r in b], 1) for b in per_batch]) for k in (0, 2))
    return SamplerPath(images, states, preds, ts)
