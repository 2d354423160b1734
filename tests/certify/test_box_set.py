"""A box with its own bounds per coordinate as the certifiers' input set: its linear
minimum is exact and CROWN's bounds over it contain the network's outputs."""

from __future__ import annotations

import torch
from torch import nn

from advkit.certify.bounds import backward_bound, crown_bounds
from advkit.certify.box_set import BoxSet
from advkit.certify.graph import trace


def test_the_minimum_of_a_linear_function_is_the_box_corner() -> None:
    box = BoxSet(torch.tensor([[0.0, -2.0, 5.0]]), torch.tensor([[1.0, 3.0, 5.0]]))
    a = torch.tensor([[[1.0, -1.0, 2.0], [-1.0, 0.5, 0.0]]])
    assert box.minimum(a, torch.zeros(1, 2)).tolist() == [[7.0, -2.0]]
    assert box.select(torch.tensor([0])).upper.tolist() == [[1.0, 3.0, 5.0]]


def test_crown_over_a_box_bounds_every_sampled_output() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    lower, upper = torch.tensor([[-1.0, 0.0, 2.0]]), torch.tensor([[0.5, 0.1, 4.0]])
    graph = trace(net, lower)
    box = BoxSet(lower, upper)
    with torch.no_grad():
        pre = crown_bounds(graph, box)
        spec = torch.eye(2)[None]
        low = backward_bound(graph, len(graph.nodes) - 1, spec, box, pre)[0]
        high = -backward_bound(graph, len(graph.nodes) - 1, -spec, box, pre)[0]
        x = lower + torch.rand(2000, 3) * (upper - lower)
        y = net(x)
    assert bool((y >= low - 1e-5).all() and (y <= high + 1e-5).all())
