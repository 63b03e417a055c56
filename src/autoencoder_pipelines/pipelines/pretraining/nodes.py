"""Pretraining node: greedy layer-wise for the stacking kinds, end to end for the others. The
function is the jobs layer's, which the tune pipeline trains too."""

from autoencoder_pipelines.jobs.pretraining import pretrain_stack

__all__ = ["pretrain_stack"]
