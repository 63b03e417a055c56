"""Plain PyTorch building blocks; nothing in this package knows about Kedro."""
