"""Shared by the lab scripts in this folder (imported from beside them: Python puts a script's folder on sys.path)."""
import atu.pipeline as P


def record_generate() -> dict:
    """Patch atu.pipeline.generate so that seen[id(model)] holds the images it last drew of that model; measure()
    draws the bank through it, so the class mixes and the grids come from the very images the metrics saw."""
    seen, generate = {}, P.generate

    def recording(g, z):
        seen[id(g)] = generate(g, z)
        return seen[id(g)]

    P.generate = recording
    return seen
