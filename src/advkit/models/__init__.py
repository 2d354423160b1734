"""Models: reference architectures, pretrained checkpoints and safe loading.

Problem solved: get a classifier that maps images in [0, 1] to logits, from a published
checkpoint (:data:`MODELS`), from user code plus a state dict (``.pt`` or
``.safetensors``), from TorchScript, from an ONNX file (converted and checked against
onnxruntime) or from a RobustBench model-zoo entry — always loading weights safely
(``torch.load(..., weights_only=True)``, never arbitrary unpickling).

Example:
    >>> from advkit.models import MODELS, load_model
    >>> sorted(MODELS)[:2]
    ['autolirpa-mnist-adv', 'cnn-small']
    >>> model = load_model("lenet5-natural")  # doctest: +SKIP
"""

from __future__ import annotations

from advkit.models.checkpoint import UnsafeCheckpointError
from advkit.models.load import load_model
from advkit.models.normalize import Normalize
from advkit.models.registry import MODELS, ModelSpec, shared_data_dir

__all__ = [
    "MODELS",
    "ModelSpec",
    "Normalize",
    "UnsafeCheckpointError",
    "load_model",
    "shared_data_dir",
]
