"""Minimal attacks whose rounds are the search on the trade-off constant c.

C&W, EAD and L-BFGS minimize distortion + c · loss. Every round runs on all attacked
samples, each at its own c, and the per-sample :class:`~advkit.engine.ConstSearch` (×10
while no round succeeded, bisection after; Carlini & Wagner 2017) is updated from the rows
the round broke.

Example:
    >>> import math, torch, advkit
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)).eval()
    >>> x, y = torch.rand(2, 16), torch.tensor([0, 1])
    >>> res = advkit.attack(model, x, y, advkit.L2(math.inf), advkit.CW(steps=5, search_steps=2))
    >>> bool((res.gradient_calls <= 2 * 5).all())  # at most search_steps × steps
    True
"""

from __future__ import annotations

from typing import TypeVar

from torch import Tensor

from advkit.engine import ConstSearch, MinimalAttack, Problem, Round

__all__ = ["SearchOnC", "check_search"]

S = TypeVar("S")


def check_search(search_steps: int, steps: int, initial_const: float) -> None:
    """Validate the common options of attacks that search on c."""
    if search_steps < 1:
        raise ValueError(f"search_steps must be >= 1, got {search_steps}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not initial_const > 0:
        raise ValueError(f"initial_const must be > 0, got {initial_const}")


class SearchOnC(MinimalAttack[S]):
    """A minimal attack whose rounds are the steps of the per-sample search on c.

    The run's context is the :class:`~advkit.engine.ConstSearch`; a round reads its rows'
    constants with :meth:`constants`. Subclasses set ``search_steps`` (number of rounds)
    and ``initial_const``.
    """

    search_steps: int
    initial_const: float

    def prepare(self, problem: Problem) -> ConstSearch:
        return ConstSearch.start(len(problem), self.initial_const)

    def rounds(self, context: ConstSearch) -> int:
        return self.search_steps

    def end_round(self, rnd: Round, succeeded: Tensor) -> None:
        rnd.context.update(rnd.local, succeeded)

    @staticmethod
    def constants(rnd: Round) -> Tensor:
        """(M,) float64 on the CPU: the current c of each of the round's active rows."""
        search: ConstSearch = rnd.context
        return search.c[rnd.local.cpu()]
