"""The data-free KD benchmark's CIFAR nets written from their descriptions,
independently of ssdkd_mm's modules: random weights in the community
checkpoints' key layout (CMI / Fast-DFKD) and a functional forward over
them. The converter tests compare our converted models against these."""
import math
from collections import OrderedDict

import torch
import torch.nn.functional as F

RESNET_BLOCKS = {'resnet18': (2, 2, 2, 2), 'resnet34': (3, 4, 6, 3)}
WRN = {'wrn16_1': (16, 1), 'wrn16_2': (16, 2), 'wrn40_1': (40, 1),
       'wrn40_2': (40, 2)}
VGG11 = ((64, ), (128, ), (256, 256), (512, 512), (512, 512))


def _conv(g, sd, key, cout, cin, k, bias=False):
    sd[key + '.weight'] = torch.randn(cout, cin, k, k, generator=g) * \
        math.sqrt(2.0 / (cin * k * k))
    if bias:
        sd[key + '.bias'] = 0.1 * torch.randn(cout, generator=g)


def _bn(g, sd, key, c):
    sd[key + '.weight'] = 1 + 0.1 * torch.randn(c, generator=g)
    sd[key + '.bias'] = 0.1 * torch.randn(c, generator=g)
    sd[key + '.running_mean'] = 0.1 * torch.randn(c, generator=g)
    sd[key + '.running_var'] = 0.5 + torch.rand(c, generator=g)
    sd[key + '.num_batches_tracked'] = torch.tensor(100)


def _linear(g, sd, key, cout, cin):
    sd[key + '.weight'] = torch.randn(cout, cin, generator=g) / math.sqrt(cin)
    sd[key + '.bias'] = 0.1 * torch.randn(cout, generator=g)


def community_state_dict(arch, num_classes=10, seed=0):
    """Random weights in the community layout of ``arch``."""
    g = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    if arch in RESNET_BLOCKS:
        _conv(g, sd, 'conv1', 64, 3, 3)
        _bn(g, sd, 'bn1', 64)
        cin = 64
        for i, n in enumerate(RESNET_BLOCKS[arch], 1):
            planes = 64 * 2**(i - 1)
            for j in range(n):
                stride = 2 if (i > 1 and j == 0) else 1
                p = f'layer{i}.{j}'
                _conv(g, sd, p + '.conv1', planes, cin, 3)
                _bn(g, sd, p + '.bn1', planes)
                _conv(g, sd, p + '.conv2', planes, planes, 3)
                _bn(g, sd, p + '.bn2', planes)
                if stride != 1 or cin != planes:
                    _conv(g, sd, p + '.shortcut.0', planes, cin, 1)
                    _bn(g, sd, p + '.shortcut.1', planes)
                cin = planes
        _linear(g, sd, 'linear', num_classes, 512)
    elif arch in WRN:
        depth, k = WRN[arch]
        n = (depth - 4) // 6
        _conv(g, sd, 'conv1', 16, 3, 3)
        cin = 16
        for b in range(1, 4):
            w = 16 * k * 2**(b - 1)
            for j in range(n):
                p = f'block{b}.layer.{j}'
                _bn(g, sd, p + '.bn1', cin)
                _conv(g, sd, p + '.conv1', w, cin, 3)
                _bn(g, sd, p + '.bn2', w)
                _conv(g, sd, p + '.conv2', w, w, 3)
                if cin != w:
                    _conv(g, sd, p + '.convShortcut', w, cin, 1)
                cin = w
        _bn(g, sd, 'bn1', cin)
        _linear(g, sd, 'fc', num_classes, cin)
    elif arch == 'vgg11':
        cin = 3
        for s, widths in enumerate(VGG11):
            for u, w in enumerate(widths):
                _conv(g, sd, f'block{s}.{3 * u}', w, cin, 3, bias=True)
                _bn(g, sd, f'block{s}.{3 * u + 1}', w)
                cin = w
        _linear(g, sd, 'classifier', num_classes, 512)
    else:
        raise KeyError(arch)
    return sd


def _bnf(sd, key, x):
    return F.batch_norm(x, sd[key + '.running_mean'],
                        sd[key + '.running_var'], sd[key + '.weight'],
                        sd[key + '.bias'], training=False, eps=1e-5)


def reference_forward(arch, sd, x):
    """Eval-mode logits of ``arch`` with community-layout weights ``sd``."""
    if arch in RESNET_BLOCKS:
        out = F.relu(_bnf(sd, 'bn1', F.conv2d(x, sd['conv1.weight'],
                                              padding=1)))
        for i, n in enumerate(RESNET_BLOCKS[arch], 1):
            for j in range(n):
                p = f'layer{i}.{j}'
                stride = 2 if (i > 1 and j == 0) else 1
                h = F.relu(_bnf(sd, p + '.bn1', F.conv2d(
                    out, sd[p + '.conv1.weight'], stride=stride,
                    padding=1)))
                h = _bnf(sd, p + '.bn2', F.conv2d(
                    h, sd[p + '.conv2.weight'], padding=1))
                if p + '.shortcut.0.weight' in sd:
                    out = _bnf(sd, p + '.shortcut.1', F.conv2d(
                        out, sd[p + '.shortcut.0.weight'], stride=stride))
                out = F.relu(h + out)
        feat = out.mean((2, 3))
        return F.linear(feat, sd['linear.weight'], sd['linear.bias'])
    if arch in WRN:
        depth, _ = WRN[arch]
        n = (depth - 4) // 6
        out = F.conv2d(x, sd['conv1.weight'], padding=1)
        for b in range(1, 4):
            for j in range(n):
                p = f'block{b}.layer.{j}'
                stride = 2 if (b > 1 and j == 0) else 1
                act = F.relu(_bnf(sd, p + '.bn1', out))
                h = F.relu(_bnf(sd, p + '.bn2', F.conv2d(
                    act, sd[p + '.conv1.weight'], stride=stride,
                    padding=1)))
                h = F.conv2d(h, sd[p + '.conv2.weight'], padding=1)
                short = (F.conv2d(act, sd[p + '.convShortcut.weight'],
                                  stride=stride)
                         if p + '.convShortcut.weight' in sd else out)
                out = h + short
        feat = F.relu(_bnf(sd, 'bn1', out)).mean((2, 3))
        return F.linear(feat, sd['fc.weight'], sd['fc.bias'])
    if arch == 'vgg11':
        out = x
        for s, widths in enumerate(VGG11):
            for u in range(len(widths)):
                c = f'block{s}.{3 * u}'
                out = F.relu(_bnf(sd, f'block{s}.{3 * u + 1}', F.conv2d(
                    out, sd[c + '.weight'], sd[c + '.bias'], padding=1)))
            # 32×32 inputs: pool after the first three stages only
            if s < 3:
                out = F.max_pool2d(out, 2)
        feat = out.mean((2, 3))
        return F.linear(feat, sd['classifier.weight'],
                        sd['classifier.bias'])
    raise KeyError(arch)
