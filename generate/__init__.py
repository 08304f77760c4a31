"""Synthetic MNIST from the committed ONNX generators, torch-free: ``python -m generate``."""
