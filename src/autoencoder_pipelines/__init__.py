"""autoencoder-pipelines: robust learned features with autoencoders, as Kedro pipelines."""

__version__ = "0.1.0"
