"""Every ONNX file this project ships, from its checkpoint, verified and carded (``python -m export``)."""
