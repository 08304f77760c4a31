"""Generated-digit quality, measured through the ONNX files with onnxruntime (no torch)."""
