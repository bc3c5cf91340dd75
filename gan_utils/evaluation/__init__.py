"""Evaluation: the shipped MNIST classifier, FID / KID / precision-recall and friends, the side-by-side
table, their figures, and the training health check."""
