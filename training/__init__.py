"""PyTorch training of class-conditional MNIST generators (``python -m training``)."""
