"""The torch-free core every part shares: MNIST idx files, atomic writes, grids, one-line CLI
errors, ONNX sessions and the written contracts of the ONNX files, sampling, image handling."""
