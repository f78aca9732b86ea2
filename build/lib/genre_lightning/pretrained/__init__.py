"""Pretrained networks from other projects: fetching their files and reading their weights.

- :mod:`~genre_lightning.pretrained.fetch`: ``musicnn_checkpoint()``, the musicnn wheel from
  PyPI, verified and unpacked into the user cache.
- :mod:`~genre_lightning.pretrained.tf_checkpoint`: ``read_checkpoint()``, TensorFlow 1
  checkpoints without TensorFlow.
"""
