"""``nn.Conv2d`` (numeric zero padding) as an affine operator; Jᵀ is the transposed
convolution with the output padding that restores the input size.

Example:
    >>> import torch
    >>> from advkit.certify.graph import trace
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, stride=2)).eval()
    >>> op = trace(net, torch.zeros(1, 1, 6, 6)).nodes[1].op
    >>> op.transpose(torch.zeros(1, 2, 2, 2)).shape
    torch.Size([1, 1, 6, 6])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from advkit.certify.ops.affine import AffineOp
from advkit.certify.ops.base import Call

__all__ = ["Conv"]


@dataclass(frozen=True, eq=False)
class Conv(AffineOp):
    """A 2-D convolution, holding the layer's own parameters.

    Attributes:
        weight: the kernel (out, in / groups, kh, kw).
        offset: the bias (out,), or None.
        stride, padding, dilation: (height, width) pairs; groups: the groups.
        output_padding: rows and columns the transposed convolution adds back.
    """

    weight: Tensor
    offset: Tensor | None
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    output_padding: tuple[int, ...]

    modules = (nn.Conv2d,)
    describes = "Conv2d"

    @classmethod
    def build(cls, call: Call, out_shape: tuple[int, ...]) -> AffineOp:
        """From an ``nn.Conv2d``; refuses string or non-zero padding modes."""
        m = call.module
        assert isinstance(m, nn.Conv2d)
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise TypeError(
                f"{call.name}: certifiers support Conv2d with numeric zero padding only"
            )
        w, in_shape = m.weight, call.in_shape
        st, pd, dl = m.stride, m.padding, m.dilation
        extra = tuple(
            in_shape[1 + i]
            - ((out_shape[1 + i] - 1) * st[i] - 2 * pd[i] + dl[i] * (w.shape[2 + i] - 1) + 1)
            for i in range(2)
        )
        dev = call.args[0].device
        return cls(in_shape, out_shape, dev, w, m.bias, st, pd, dl, m.groups, extra)

    def forward(self, *xs: Tensor) -> Tensor:
        """The convolution with its bias."""
        return F.conv2d(
            xs[0], self.weight, self.offset, self.stride, self.padding, self.dilation, self.groups
        )

    def forward_abs(self, x: Tensor) -> Tensor:
        """The convolution with |kernel| and no bias."""
        w = self.weight.abs()
        return F.conv2d(x, w, None, self.stride, self.padding, self.dilation, self.groups)

    def transpose(self, a: Tensor) -> Tensor:
        """The transposed convolution (no bias)."""
        return F.conv_transpose2d(
            a,
            self.weight,
            None,
            self.stride,
            self.padding,
            output_padding=self.output_padding,
            groups=self.groups,
            dilation=self.dilation,
        )
