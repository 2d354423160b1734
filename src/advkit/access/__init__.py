"""Access levels: what an attack may see of the model, with per-sample accounting.

- :class:`WhiteBox`: logits and input gradients.
- :class:`ScoreOnly`: probabilities (or logits, if the deployment exposes them), never an
  autograd graph, a per-sample query budget.
- :class:`LabelOnly`: the top-1 label only, a per-sample query budget.

Each attack declares the level it needs (``WHITE_BOX > SCORES > LABELS``). Handing it a
richer oracle works; a poorer one raises :class:`AccessError`. An oracle counts, for each
sample of the attacked batch, every row it evaluated for that sample (a batch of 2B+1
evaluations for one image counts 2B+1) and every gradient it computed.

Adaptive attacks query the model through views (:mod:`advkit.access.views`): BPDA
surrogate gradients, EOT averaging, a change of variables x = h(z), a detector's guard.
``oracle.through(view)`` keeps the access level and the counters.

During a call the model is in eval mode; every module's ``.training`` flag is restored
afterwards. Oracles never touch the global RNG.

Example:
    >>> import torch
    >>> from advkit.access import ScoreOnly
    >>> model = torch.nn.Linear(4, 3)
    >>> oracle = ScoreOnly(model, budget=100).fresh(2)
    >>> with oracle.session():
    ...     p = oracle.scores(torch.rand(2, 4), torch.tensor([0, 1]))
    >>> oracle.queries.tolist()
    [1, 1]
"""

from advkit.access.evaluation_mode import eval_mode
from advkit.access.levels import LabelOnly, ScoreOnly, WhiteBox, as_oracle
from advkit.access.oracle import (
    LABELS,
    SCORES,
    WHITE_BOX,
    Access,
    AccessError,
    Oracle,
    QueryBudgetExceeded,
)
from advkit.access.output import looks_like_probabilities
from advkit.access.views import (
    AutocastView,
    BPDAView,
    EOTView,
    GuardedView,
    ReparameterizedView,
    View,
)

__all__ = [
    "LABELS",
    "SCORES",
    "WHITE_BOX",
    "Access",
    "AccessError",
    "AutocastView",
    "BPDAView",
    "EOTView",
    "GuardedView",
    "LabelOnly",
    "Oracle",
    "QueryBudgetExceeded",
    "ReparameterizedView",
    "ScoreOnly",
    "View",
    "WhiteBox",
    "as_oracle",
    "eval_mode",
    "looks_like_probabilities",
]
