"""Writing VNN-COMP instances from a model: the folder reads back and verifies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from advkit.certify.vnn import verify_files
from advkit.certify.vnn_export import robustness_vnnlib, write_instances
from advkit.certify.vnn_instances import read_instances
from advkit.certify.vnnlib import parse_vnnlib, read_vnnlib


def _linear() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(3, 4) * 4.0)
        model[1].bias.zero_()
    return model.eval()


def test_property_box_is_the_clipped_ball_and_violation_covers_every_other_class() -> None:
    x = np.array([0.0, 0.5, 0.97])
    prop = parse_vnnlib(robustness_vnnlib(x, eps=0.05, label=1, classes=4))
    assert len(prop.disjuncts) == 3
    for part in prop.disjuncts:
        np.testing.assert_allclose(part.lower, [0.0, 0.45, 0.92])
        np.testing.assert_allclose(part.upper, [0.05, 0.55, 1.0])
    rows = np.concatenate([p.c for p in prop.disjuncts])
    # each violation row reads Y_label - Y_j <= 0 for one j != label
    assert sorted(int(np.argmin(r)) for r in rows) == [0, 2, 3]
    assert all(r[1] == 1.0 for r in rows)


def test_written_folder_reads_back_and_verifies(tmp_path: Path) -> None:
    x = torch.tensor([[[[0.9, 0.1, 0.1, 0.1]]], [[[0.5, 0.45, 0.0, 0.0]]]])
    y = torch.tensor([0, 0])
    lines = write_instances(_linear(), "lin", x, y, [0.01, 0.2], tmp_path, timeout=30)
    (tmp_path / "instances.csv").write_text("\n".join(lines) + "\n")
    instances = read_instances(tmp_path / "instances.csv")
    assert len(instances) == 4 and all(i.timeout == 30 for i in instances)
    prop = read_vnnlib(instances[0].vnnlib)
    assert prop.disjuncts[0].lower.shape == (4,)
    status = [verify_files(i.onnx, i.vnnlib, i.timeout).status for i in instances]
    # margins 4·(x0 - x1): 3.2 and 0.2; ε moves each coordinate by ε, the margin by 8ε
    assert status == ["unsat", "unsat", "unsat", "sat"]
