"""PyTorch -> ONNX export of trained generators (``python -m export``)."""
