"""The training checkpoint: what it holds, writing it, and resuming only the run that wrote it.

Problem solved: a checkpoint holds weights and optimizer state but says nothing of how
they were obtained, so resuming it with other options (``--method pgd --eps 0.3`` on a
standard-training checkpoint, other data, another learning rate, which the optimizer
state would even silently override) continues a different run and labels all its epochs
with the new options. Each checkpoint therefore records the :class:`TrainingSettings` of
its run, and :func:`load_checkpoint` refuses one whose settings differ from the resuming
run's, listing every difference, before anything is loaded.

Epochs: a run may be resumed with more epochs than it was started with (continuing
training longer is what resuming is for), except with a scheduled method (certified
training), whose ramps span the run's epochs so that changing them would change the
epochs already trained; fewer epochs than the checkpoint holds are refused.

Example:
    >>> import torch, advkit
    >>> from advkit.defenses.checkpoint import TrainingSettings
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> x, y = torch.rand(6, 4), torch.tensor([0, 1, 2, 0, 1, 2])
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> s = TrainingSettings.of(model, (x, y), advkit.Standard(), None, opt,
    ...                         batch_size=2, seed=0, epochs=3)
    >>> s.method, s.optimizer["lr"]
    ('Standard()', '0.1')
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advkit.defenses.training import TrainingMethod
from advkit.threat import ThreatModel

__all__ = ["TrainingSettings", "load_checkpoint", "save_checkpoint"]

logger = logging.getLogger(__name__)

# param_group keys that choose an implementation, not the arithmetic of a step
_IMPLEMENTATION_KEYS = frozenset({"params", "foreach", "fused", "capturable", "differentiable"})
_FIX = "Resume with the same options, or train into a new checkpoint (CLI: a new --out)."


@dataclass(frozen=True)
class TrainingSettings:
    """What decides a training run's weights and history, recorded in its checkpoint.

    Attributes:
        method: the training method's configuration (its ``repr``, plus a digest of the
            weights of any model it holds, such as a distillation teacher).
        threat: the threat model's ``repr`` (``None`` when none was given).
        data: the training data: sample count, sample shape, dtype and SHA-256 of (x, y).
        eval_data: the monitor's held-out data, described like ``data`` (or ``none``).
        model: the architecture: the model's class and a digest of its module structure.
        optimizer: the optimizer's class (``type``) and hyperparameters (``lr``,
            ``betas``, ...; keys of parameter group k > 0 prefixed ``k.``), as text.
        batch_size: samples per step.
        seed: seed of the shuffling and of the attacks.
        schedule_epochs: the epochs a scheduled method's ramps span; ``None`` for
            methods without a schedule, whose runs may be extended.
        certify_eval: whether certified accuracy is logged every epoch.
    """

    method: str
    threat: str
    data: str
    eval_data: str
    model: str
    optimizer: Mapping[str, str]
    batch_size: int
    seed: int
    schedule_epochs: int | None
    certify_eval: bool

    @classmethod
    def of(
        cls,
        model: nn.Module,
        data: tuple[Tensor, Tensor],
        method: TrainingMethod,
        threat: ThreatModel | None,
        optimizer: torch.optim.Optimizer,
        *,
        batch_size: int,
        seed: int,
        epochs: int,
        eval_data: tuple[Tensor, Tensor] | None = None,
        certify_eval: bool = False,
    ) -> TrainingSettings:
        """The settings of a :func:`advkit.train` call (read ``optimizer`` before it is
        loaded from a checkpoint: loading replaces its hyperparameters)."""
        return cls(
            method=_describe_method(method),
            threat=repr(threat),
            data=_describe_data(data),
            eval_data="none" if eval_data is None else _describe_data(eval_data),
            model=f"{type(model).__name__} with structure sha256 {_digest_text(repr(model))}",
            optimizer=_describe_optimizer(optimizer),
            batch_size=batch_size,
            seed=seed,
            schedule_epochs=epochs if hasattr(method, "at") else None,
            certify_eval=certify_eval,
        )

    def differences(self, saved: Mapping[str, Any]) -> list[str]:
        """``"name: checkpoint A, this run B"`` for every setting ``saved`` records otherwise."""
        out = []
        for name, value in dataclasses.asdict(self).items():
            old = saved.get(name, "(not recorded)")
            if isinstance(value, Mapping) and isinstance(old, Mapping):
                keys = [k for k in value if k in old and old[k] != value[k]]
                if keys:
                    before = ", ".join(f"{k}={old[k]}" for k in keys)
                    after = ", ".join(f"{k}={value[k]}" for k in keys)
                    out.append(f"{name}: checkpoint {before}, this run {after}")
            elif old != value:
                out.append(f"{name}: checkpoint {old}, this run {value}")
        return out


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    history: list[dict[str, Any]],
    settings: TrainingSettings,
) -> None:
    """Write model, optimizer, epoch, history and settings atomically (loads weights_only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        "history": history,
        "settings": dataclasses.asdict(settings),
    }
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    settings: TrainingSettings,
    epochs: int,
) -> tuple[list[dict[str, Any]], int]:
    """Continue the run saved at ``path``, if any: load model and optimizer, return
    (history, epochs done). Nothing is loaded when the checkpoint is refused.

    Raises:
        ValueError: the checkpoint records no settings, was written with other settings
            (each difference is listed), or holds more epochs than ``epochs``.
    """
    if not path.exists():
        return [], 0
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = state.get("settings")
    if not isinstance(saved, Mapping):
        raise ValueError(
            f"checkpoint {path} does not record the settings of the run that wrote it "
            "(an older advkit wrote it), so resuming it could mix two runs: delete it to "
            "start over, or train into a new checkpoint (CLI: a new --out)."
        )
    differences = settings.differences(saved)
    if differences:
        raise ValueError(
            f"checkpoint {path} was written by a different training run: "
            f"{'; '.join(differences)}. {_FIX}"
        )
    done = int(state["epoch"])
    if done > epochs:
        raise ValueError(
            f"checkpoint {path} holds {done} epochs, more than epochs={epochs}: pass "
            f"epochs >= {done} to continue it (CLI: --epochs {done} or more), or train into "
            "a new checkpoint (CLI: a new --out)."
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    logger.info("resuming from %s after epoch %d", path, done)
    return list(state["history"]), done


def _describe_data(data: tuple[Tensor, Tensor]) -> str:
    x, y = data[0], data[1].long()
    digest = hashlib.sha256()
    for t in (x, y):
        _hash_tensor(digest, f"{t.dtype}{tuple(t.shape)}", t)
    return (
        f"{x.shape[0]} samples of {tuple(x.shape[1:])} {str(x.dtype).removeprefix('torch.')}, "
        f"sha256 {digest.hexdigest()[:16]}"
    )


def _describe_method(method: TrainingMethod) -> str:
    """The method's repr on one line, plus the weights of the models it holds, if any."""
    text = " ".join(_stable(repr(method)).split())
    modules: list[nn.Module] = []
    if dataclasses.is_dataclass(method):
        for field in dataclasses.fields(method):
            value = getattr(method, field.name)
            items = value if isinstance(value, tuple) else (value,)
            modules += [m for m in items if isinstance(m, nn.Module)]
    if not modules:
        return text
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in module.state_dict().items():
            _hash_tensor(digest, name, tensor)
    return f"{text} with model weights sha256 {digest.hexdigest()[:16]}"


def _hash_tensor(digest: Any, label: str, tensor: Tensor) -> None:
    """Feed ``label`` and the tensor's bytes to ``digest`` (a hashlib object)."""
    digest.update(label.encode())
    digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())


def _describe_optimizer(optimizer: torch.optim.Optimizer) -> dict[str, str]:
    out = {"type": type(optimizer).__name__}
    for k, group in enumerate(optimizer.param_groups):
        for key, value in group.items():
            if key not in _IMPLEMENTATION_KEYS:
                shown = value.tolist() if isinstance(value, Tensor) else value
                out[f"{k}.{key}" if k else key] = repr(shown)
    return out


def _digest_text(text: str) -> str:
    return hashlib.sha256(_stable(text).encode()).hexdigest()[:16]


def _stable(text: str) -> str:
    """``text`` without memory addresses (``<function f at 0x7f...>``), which vary by run."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)
