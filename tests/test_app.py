"""The app starts and serves the shipped model's samples through its API (the full flow is issue #5)."""
import gradio as gr
import pytest
from gradio_client import Client

import app


def test_shipped_generators_listed():
    assert "mnist-dcgan" in app.shipped_generators()


def test_samples_handler_and_errors():
    img = app.samples("mnist-dcgan", 0)
    assert img.size == (8 * 34 * 4, 8 * 34 * 4)
    with pytest.raises(gr.Error, match="choose a model"):
        app.samples("", 0)


def test_launched_app_answers_over_http(tmp_path):
    demo = app.build_demo()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None)
    try:
        out = Client(demo.local_url, verbose=False).predict("mnist-dcgan", 3, api_name="/samples")
        path = out if isinstance(out, str) else out.get("path")
        assert path and path.endswith(".png")
    finally:
        demo.close()
