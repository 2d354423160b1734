"""A deterministic, instant classifier of the built-in digits for evidence tests.

``linear_digits`` is a ``package.module:factory`` target (``--model
linear_digits:linear_digits``): a linear model fitted in closed form (ridge regression on
one-hot labels), about 93% accurate on the test digits and broken by small L∞ attacks, so
an evaluation has both robust and broken samples in a fraction of a second.
"""

from __future__ import annotations

import torch
from torch import nn

from advkit.data import load_dataset

FACTORY = "linear_digits:linear_digits"
"""The import path the command line takes (tests/ is on the path under pytest)."""


def linear_digits(ridge: float = 1.0) -> nn.Module:
    """Flatten + Linear(64, 10), least squares on the digits training split."""
    x, y = load_dataset("digits", split="train")
    features = torch.cat([x.reshape(len(x), -1).double(), torch.ones(len(x), 1).double()], 1)
    targets = nn.functional.one_hot(y, 10).double()
    gram = features.T @ features + ridge * torch.eye(features.shape[1], dtype=torch.float64)
    w = torch.linalg.solve(gram, features.T @ targets)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with torch.no_grad():
        model[1].weight.copy_(w[:64].T.float())
        model[1].bias.copy_(w[64].float())
    return model.eval()
