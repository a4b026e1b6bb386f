import os
import sys
from pathlib import Path

# huggingface_hub reads its environment at import time: keep tests off the network and out of ~/.cache.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TQDM_DISABLE", "1")   # training bars would flood captured output

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# --- Loopback Hugging Face Hub (tests/hub_server.py) ---------------------------------------------------------
# huggingface_hub (and gradio/diffusers, which import it) read HF_ENDPOINT/HF_HOME/HF_TOKEN/HF_HUB_OFFLINE once,
# when first imported: point them at a free port on 127.0.0.1 and a throw-away HF_HOME before any test module
# imports them. Subprocesses (the `hf` CLI) inherit this environment. The `hub` fixture serves that port.
import atexit  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HUB_PORT = _free_port()
HUB_TOKENS = {"tok-alice-7f3a9c": "alice", "tok-bob-51d2e8": "bob"}
_HF_HOME = tempfile.mkdtemp(prefix="atu-test-hf-home-")
atexit.register(shutil.rmtree, _HF_HOME, True)
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{HUB_PORT}"
os.environ["HF_HOME"] = _HF_HOME
for _var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
             "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_XET_CACHE"):
    os.environ.pop(_var, None)  # a developer's real token/cache must never meet the test Hub
os.environ["HF_HUB_DISABLE_UPDATE_CHECK"] = "1"
os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))


@pytest.fixture
def hub():
    """A fresh in-memory Hub on HF_ENDPOINT's port for one test (alice and bob have tokens: HUB_TOKENS)."""
    from hub_server import HubServer

    with HubServer(HUB_PORT, tokens=HUB_TOKENS) as server:
        yield server


@pytest.fixture
def served():
    """app.py launched on a free port of 127.0.0.1 for one test: yields its URL."""
    import app

    demo = app.build_demo()
    demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=_free_port())
    try:
        yield demo.local_url
    finally:
        demo.close()
        # a test that failed midway may leave a run training in its worker thread: stop it, so that it neither
        # holds the run queue nor draws from torch's global RNG while later tests check same-seed results
        import threading
        import time

        from atu.session import RunQueue

        for flag in app.CANCEL.values():
            flag.set()
        deadline = time.time() + 60   # a worker stops at its next logged step (atu.session.run_and_save)
        while any(t.name == "atu-run" and t.is_alive() for t in threading.enumerate()) and time.time() < deadline:
            time.sleep(0.5)
        app.RUNS = RunQueue()   # the next app starts with an empty queue whatever this one left
