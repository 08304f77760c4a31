"""Benchmark baseline only, not part of the product: the seed apps' way of serving,
Flask with torch in the web process running the same trained generator: the committed ONNX file's
weights in its PyTorch module (export/from_onnx.py)."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from flask import Flask, jsonify, render_template_string, request

from export.from_onnx import torch_generator
from webapp.imaging import pngs_base64

PAGE = """<!doctype html><title>digit {{ digit }}</title>
{% for png in images %}<img src="data:image/png;base64,{{ png }}" alt="digit {{ digit }}">{% endfor %}"""


def create_app() -> Flask:
    torch.set_num_threads(1)  # one thread per worker, as the onnxruntime server
    generator = torch_generator(Path(os.environ.get("BENCH_GENERATOR", "artifacts/cvae_decoder.onnx")))
    app = Flask(__name__)

    def generate() -> tuple[int, int, list[str]]:
        digit, seed = int(request.args["digit"]), int(request.args.get("seed", 0))
        z = torch.randn(5, generator.noise_dim, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            images = generator(torch.full((5,), digit), z)[:, 0].numpy()
        return digit, seed, pngs_base64(images)

    @app.get("/api/v1/generate")
    def api():
        digit, seed, images = generate()
        return jsonify(digit=digit, seed=seed, images=images)

    @app.get("/")
    def page():
        digit, _, images = generate()
        return render_template_string(PAGE, digit=digit, images=images)

    return app
