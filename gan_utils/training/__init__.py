"""The one training path: ``train`` (``train.py``), its Keras callbacks, and the checkpoints it writes.

Use ``gan_utils.train``: ``gan_utils.training.train`` is the module of the same name.
"""
