#!/usr/bin/env python3
"""biasamp_model_torch.py: the bias-amplification study's CustomResNet (facebookresearch/
cv_bias_amplification, models/custom_resnet.py; REFERENCES.md) written anew in PyTorch from
its description: conv3x3(1 -> 64, no bias) + BN + ReLU, no max pool, torchvision BasicBlocks
[2, 2, 2] at 64, 128/s2, 256/s2 (1x1 conv + BN downsample where the shape changes),
AvgPool2d(7), Linear(256 -> 2). Prints its trainable parameter count and state_dict keys
(--keys); plumb's arch = cifar_resnet, depth = 14, width = 4 must equal it
(test/cli/test_biasamp_release.sh).
Usage: /usr/bin/python3 scripts/biasamp_model_torch.py [--keys]"""
import sys

import torch.nn as nn
from torchvision.models.resnet import BasicBlock


class CustomResNet(nn.Module):
    def __init__(self, channels=1, num_classes=2, layers=(2, 2, 2)):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._stage(64, layers[0], 1)
        self.layer2 = self._stage(128, layers[1], 2)
        self.layer3 = self._stage(256, layers[2], 2)
        self.avgpool = nn.AvgPool2d(7)
        self.fc = nn.Linear(256, num_classes)

    def _stage(self, planes, blocks, stride):
        down = None
        if stride != 1 or self.inplanes != planes:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        mods = [BasicBlock(self.inplanes, planes, stride, down)]
        self.inplanes = planes
        mods += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


if __name__ == "__main__":
    m = CustomResNet()
    print("parameters: %d" % sum(p.numel() for p in m.parameters() if p.requires_grad))
    if "--keys" in sys.argv:
        for k in m.state_dict():
            print(k)
