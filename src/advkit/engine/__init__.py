"""The attack kernel: the typed engine every advkit attack plugs into.

- :class:`Problem`: one call's inputs and oracle, restricted to some rows;
- :class:`Outcome`: an attack's points, with the model's logits where it evaluated them;
- :class:`Attack`: the base of every attack, with declared :class:`AttackInfo`;
- :class:`FixedEpsAttack` / :class:`MinimalAttack`: the two drivers (active set and its
  compaction, one :class:`Best` record, rounds, early stop) with init/step hooks;
- :class:`Adam` (per-sample), :class:`ConstSearch` (the search on c);
- :mod:`advkit.engine.rng`: named per-sample random streams (the one seeding scheme).

See ``docs/architecture.md`` for the contract and how to add an attack.
"""

from advkit.engine.adam import Adam
from advkit.engine.attack import Attack
from advkit.engine.driver import Evaluation, FixedEpsAttack, IterativeAttack, MinimalAttack, Round
from advkit.engine.info import NORMS, AttackInfo, Entry, Preset
from advkit.engine.outcome import Outcome
from advkit.engine.problem import Problem
from advkit.engine.record import Best
from advkit.engine.rows import select_rows
from advkit.engine.search import ConstSearch

__all__ = [
    "NORMS",
    "Adam",
    "Attack",
    "AttackInfo",
    "Best",
    "ConstSearch",
    "Entry",
    "Evaluation",
    "FixedEpsAttack",
    "IterativeAttack",
    "MinimalAttack",
    "Outcome",
    "Preset",
    "Problem",
    "Round",
    "select_rows",
]
