"""The FID network: TensorFlow's InceptionV3 of 2015-12-05 in PyTorch, as pytorch-fid defines it.

Built from torchvision's Inception3 with the blocks pytorch-fid patches to reproduce the
TensorFlow graph (average pools that do not count padding, a max pool in the last block), so
pytorch-fid's state dict `pt_inception-2015-12-05-6726825d.pth` loads into it unchanged.
Its output is the 2048-d pool3 feature vector FID is defined on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.inception import Inception3, InceptionA, InceptionC, InceptionE


class FIDInceptionA(InceptionA):
    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        # TensorFlow's average pool leaves the padding out of the mean.
        branch_pool = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([branch1x1, branch5x5, branch3x3dbl, branch_pool], 1)


class FIDInceptionC(InceptionC):
    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            branch7x7dbl = layer(branch7x7dbl)
        branch_pool = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([branch1x1, branch7x7, branch7x7dbl, branch_pool], 1)


class FIDInceptionE(InceptionE):
    def __init__(self, in_channels: int, max_pool: bool):
        super().__init__(in_channels)
        self.max_pool = max_pool  # the last block of the TensorFlow graph max-pools by mistake

    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        if self.max_pool:
            pooled = F.max_pool2d(x, 3, stride=1, padding=1)
        else:
            pooled = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return torch.cat([branch1x1, branch3x3, branch3x3dbl, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """(N, 3, 299, 299) images scaled to [-1, 1] -> (N, 2048) pool3 features."""

    def __init__(self):
        super().__init__()
        net = Inception3(num_classes=1008, aux_logits=False, transform_input=False, init_weights=False)
        net.Mixed_5b = FIDInceptionA(192, pool_features=32)
        net.Mixed_5c = FIDInceptionA(256, pool_features=64)
        net.Mixed_5d = FIDInceptionA(288, pool_features=64)
        net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        net.Mixed_7b = FIDInceptionE(1280, max_pool=False)
        net.Mixed_7c = FIDInceptionE(2048, max_pool=True)
        self.net = net

    def load_fid_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load pytorch-fid's state dict (keys as in torchvision's Inception3)."""
        self.net.load_state_dict(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.Conv2d_1a_3x3(x)                   # 32 x 149 x 149
        x = n.Conv2d_2a_3x3(x)                   # 32 x 147 x 147
        x = n.Conv2d_2b_3x3(x)                   # 64 x 147 x 147
        x = F.max_pool2d(x, 3, stride=2)         # 64 x 73 x 73
        x = n.Conv2d_3b_1x1(x)                   # 80 x 73 x 73
        x = n.Conv2d_4a_3x3(x)                   # 192 x 71 x 71
        x = F.max_pool2d(x, 3, stride=2)         # 192 x 35 x 35
        for block in (n.Mixed_5b, n.Mixed_5c, n.Mixed_5d, n.Mixed_6a, n.Mixed_6b, n.Mixed_6c,
                      n.Mixed_6d, n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = block(x)                         # ... 2048 x 8 x 8
        return F.adaptive_avg_pool2d(x, 1).flatten(1)  # 2048
