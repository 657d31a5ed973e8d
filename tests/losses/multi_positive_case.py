"""The hand-checked batch the multi-positive loss tests share (JointLH, SumMargLH, LSEPair, Rand1LH)."""

from __future__ import annotations

import torch

# Two queries, three candidate slots each; column j of SCORES is slot (j // 3, j % 3).
SCORES = [[2.0, 1.0, 0.5, -1.0, 0.0, 1.5],
          [0.0, -0.5, 1.0, 3.0, 0.5, 2.0]]
LABELS = [[1.0, 0.75, 0.0],   # positives: columns 0, 1
          [1.0, 0.0, 0.5]]    # positives: columns 3, 5


def one_hot_batch(scores, labels):
    """Queries are the score rows and documents unit vectors, so dot(q_i, d_j) = scores[i][j] exactly."""
    query = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
    label = torch.tensor(labels, dtype=torch.float64)
    rows, slots = label.shape
    docs = torch.eye(rows * slots, dtype=torch.float64).reshape(rows, slots, rows * slots)
    return query, docs, label
