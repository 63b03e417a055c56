"""Tools that run the training pipelines several times (kind comparison, noise sweep), each
in a folder of its own under data/tools/, never over the main run's outputs."""
