import json
import sys
from atu.models import load_model
from atu.data import mnist_split
from atu.mnist import measure_base_gan, LATENT_BANK_SIZE, LATENT_BANK_SEED
from atu.sampling import make_latent_bank
d = sys.argv[1]
G = load_model(d, kind="generator")
C = load_model("checkpoints/mnist-classifier", kind="classifier")
E = load_model("checkpoints/mnist-classifier-b", kind="classifier")
x,_ = mnist_split("train"); xh,_ = mnist_split("heldout")
lat = make_latent_bank(LATENT_BANK_SIZE, G.latent_dim, LATENT_BANK_SEED)
m = measure_base_gan(G, C, lat, x, xh, evaluator=E)
from atu.metrics import fid
from atu.sampling import generate
m["fid_2k"] = fid(xh, generate(G, lat[:2000]), C)["fid"]
print(json.dumps(m))
