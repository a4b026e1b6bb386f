"""atu's Gradio app (thin: layout and wiring only; the logic lives in atu/).

For now it shows a shipped base model's samples on fixed seeds; the unlearning flow comes with the app issue.
Run: python app.py   (then open http://127.0.0.1:7860)
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

import atu
from atu.sampling import make_latent_bank, to_pil

CHECKPOINTS = Path(__file__).parent / "checkpoints"


def shipped_generators() -> list[str]:
    """Folders in checkpoints/ that hold a generator."""
    import json

    out = []
    for cfg in sorted(CHECKPOINTS.glob("*/config.json")):
        if json.loads(cfg.read_text()).get("kind") == "generator":
            out.append(cfg.parent.name)
    return out


def samples(model: str, seed: int, n: int = 64):
    """A grid of the model's samples on latents fixed by `seed`."""
    if not model:
        raise gr.Error("choose a model first")
    G = atu.load_generator(CHECKPOINTS / model)
    return to_pil(atu.generate(G, make_latent_bank(int(n), G.latent_dim, int(seed))), nrow=8).resize((8 * 34 * 4, ) * 2, 0)


def build_demo() -> gr.Blocks:
    models = shipped_generators()
    with gr.Blocks(title="atu: Adapt-then-Unlearn") as demo:
        gr.Markdown("# atu: make a pre-trained GAN forget\nSamples of the shipped base models on fixed seeds.")
        with gr.Row():
            model = gr.Dropdown(models, value=models[0] if models else None, label="base model")
            seed = gr.Number(0, precision=0, label="seed")
            go = gr.Button("sample", variant="primary")
        grid = gr.Image(label="samples", format="png", type="pil")
        go.click(samples, [model, seed], grid, api_name="samples")
        demo.load(samples, [model, seed], grid)
    return demo


if __name__ == "__main__":
    build_demo().launch()
