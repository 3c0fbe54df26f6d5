"""Model architectures (deployed and parity models share them), ONNX export and re-import.

Every model maps `input` [B, *input_shape] float32 to `logits` [B, classes] raw logits
(Contract 3). A parity model has the same I/O as its deployed model but may be wider.
An architecture is a small JSON-able dict, recorded in the model card, so a deployed ONNX model
can be rebuilt in PyTorch (weights read back from the ONNX initializers) to compute the parity
targets.
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .errors import TrainError

ARCHS = ('mlp', 'cnn')
PARITY_ARCHS = ('mlp', 'cnn', 'split', 'tiled')
DEFAULT_ARCH: Dict[str, Dict[str, Any]] = {
    'mlp': {'kind': 'mlp', 'hidden': [512, 256]},
    'cnn': {'kind': 'cnn', 'channels': [16, 32], 'hidden': [128]},
}


class MLP(nn.Module):
    def __init__(self, input_shape: Sequence[int], classes: int, hidden: Sequence[int]):
        super().__init__()
        layers: List[nn.Module] = [nn.Flatten()]
        width = int(np.prod(input_shape))
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CNN(nn.Module):
    """conv3x3-relu-maxpool2 blocks, then fully connected layers."""

    def __init__(self, input_shape: Sequence[int], classes: int, channels: Sequence[int],
                 hidden: Sequence[int]):
        super().__init__()
        if len(input_shape) != 3:
            raise TrainError(f'the cnn model needs image inputs [C, H, W], this dataset has '
                             f'{list(input_shape)}: use --model mlp')
        c, h, w = input_shape
        layers: List[nn.Module] = []
        for ch in channels:
            layers += [nn.Conv2d(c, ch, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c, h, w = ch, h // 2, w // 2
        layers.append(nn.Flatten())
        width = c * h * w
        for hd in hidden:
            layers += [nn.Linear(width, hd), nn.ReLU()]
            width = hd
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Tiled(nn.Module):
    """Approximate-replica baseline for the concatenation encoder, over the cost rule (k deployed
    runs per parity query; `parm train parity` refuses it without --allow-costlier): cuts the parity query into its k tiles
    (the encoder's grid), resizes each back to the full input size (bilinear) and runs one shared
    inner network on all of them, returning the sum of the k outputs. It mirrors the target
    F(X_1) + ... + F(X_k) term by term, and the inner network can start from the deployed model."""

    def __init__(self, input_shape: Sequence[int], classes: int, k: int, inner: Dict[str, Any]):
        super().__init__()
        if len(input_shape) != 3:
            raise TrainError(f'the tiled parity model needs image inputs [C, H, W], got {list(input_shape)}')
        _c, h, w = input_shape
        self.k, self.h, self.w, self.classes = k, h, w, classes
        self.tiles = tile_boxes(input_shape, k)
        self.inner = build(inner, input_shape, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [nn.functional.interpolate(x[:, :, y0:y1, x0:x1], size=(self.h, self.w), mode='bilinear',
                                           align_corners=False) for (y0, y1, x0, x1) in self.tiles]
        out = self.inner(torch.cat(parts, 0))
        return out.reshape(self.k, -1, self.classes).sum(0)


def tile_boxes(input_shape: Sequence[int], k: int) -> List[Tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of the k tiles of the concatenation encoder's grid (encoders.encode_concat)."""
    from .encoders import concat_grid
    _c, h, w = input_shape
    rows, cols = concat_grid(k)
    return [((i // cols) * h // rows, (i // cols + 1) * h // rows,
             (i % cols) * w // cols, (i % cols + 1) * w // cols) for i in range(k)]


class Split(nn.Module):
    """Parity architecture for the concatenation encoder that keeps the deployed model's cost:
    cuts the parity query into its k tiles, zero-pads each to the largest tile and runs one shared
    inner network on all of them at tile resolution, returning the sum of the k outputs. The inner
    network is sized so that k runs of it cost no more multiply-adds than one deployed query (the
    trainer checks this on the exported graph)."""

    def __init__(self, input_shape: Sequence[int], classes: int, k: int, inner: Dict[str, Any]):
        super().__init__()
        if len(input_shape) != 3:
            raise TrainError(f'the split parity model needs image inputs [C, H, W], got {list(input_shape)}')
        c = input_shape[0]
        self.k, self.classes = k, classes
        self.tiles = tile_boxes(input_shape, k)
        self.th = max(y1 - y0 for y0, y1, _, _ in self.tiles)
        self.tw = max(x1 - x0 for _, _, x0, x1 in self.tiles)
        self.inner = build(inner, [c, self.th, self.tw], classes)

    def tile_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The inner network's output for each tile: [k, B, classes] (training may supervise each)."""
        parts = []
        for (y0, y1, x0, x1) in self.tiles:
            t = x[:, :, y0:y1, x0:x1]
            if (y1 - y0, x1 - x0) != (self.th, self.tw):
                t = nn.functional.pad(t, (0, self.tw - (x1 - x0), 0, self.th - (y1 - y0)))
            parts.append(t)
        return self.inner(torch.cat(parts, 0)).reshape(self.k, -1, self.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tile_outputs(x).sum(0)


class OutputScale(nn.Module):
    """Training-time wrapper: the network's output times a constant s (e.g. the deployed logits'
    standard deviation), so a randomly initialised model reaches logits of the deployed model's
    size in a few steps instead of many (Adam moves weights by about lr per step). `folded()`
    multiplies s into the last linear layer, so the exported graph is the plain architecture."""

    def __init__(self, net: nn.Module, scale: float):
        super().__init__()
        self.net, self.scale = net, float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.scale

    def folded(self) -> nn.Module:
        last = [m for m in self.net.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():
            last.weight.mul_(self.scale)
            last.bias.mul_(self.scale)
        self.scale = 1.0
        return self.net


def build(arch: Dict[str, Any], input_shape: Sequence[int], classes: int) -> nn.Module:
    kind = arch.get('kind')
    if kind == 'split':
        return Split(input_shape, classes, int(arch['k']), arch['inner'])
    if kind == 'tiled':
        return Tiled(input_shape, classes, int(arch['k']), arch['inner'])
    if kind == 'mlp':
        return MLP(input_shape, classes, arch['hidden'])
    if kind == 'cnn':
        return CNN(input_shape, classes, arch['channels'], arch['hidden'])
    raise TrainError(f"unknown model '{kind}': use one of {', '.join(ARCHS)}")


def make_arch(kind: str, hidden: str | None = None, channels: str | None = None,
              inner: str | None = None) -> Dict[str, Any]:
    if kind == 'tiled':
        if hidden or channels or inner:
            raise TrainError('--model tiled reuses the deployed architecture inside; drop --hidden/--channels/--inner')
        return {'kind': 'tiled'}  # completed with k and the deployed architecture by the trainer
    if kind == 'split':
        # Completed by the trainer: k, and an inner network of kind --inner (default: the deployed
        # kind) with the given widths, or the deployed widths scaled down to fit the budget.
        spec: Dict[str, Any] = {'kind': 'split'}
        if inner is not None:
            if inner not in ARCHS:
                raise TrainError(f"unknown --inner '{inner}': use one of {', '.join(ARCHS)}")
            spec['inner_kind'] = inner
        if hidden:
            spec['hidden'] = _ints(hidden, '--hidden')
        if channels:
            spec['channels'] = _ints(channels, '--channels')
        return spec
    if inner is not None:
        raise TrainError('--inner applies to --model split only')
    if kind not in DEFAULT_ARCH:
        raise TrainError(f"unknown model '{kind}': use one of {', '.join(PARITY_ARCHS)}")
    arch = json.loads(json.dumps(DEFAULT_ARCH[kind]))
    if hidden:
        arch['hidden'] = _ints(hidden, '--hidden')
    if channels:
        if kind != 'cnn':
            raise TrainError('--channels applies to --model cnn only')
        arch['channels'] = _ints(channels, '--channels')
    return arch


def _ints(s: str, flag: str) -> List[int]:
    try:
        v = [int(p) for p in s.split(',') if p.strip()]
    except ValueError:
        raise TrainError(f'{flag} takes comma-separated positive integers, e.g. 512,256; got {s!r}')
    if not v or any(x <= 0 for x in v):
        raise TrainError(f'{flag} takes comma-separated positive integers, e.g. 512,256; got {s!r}')
    return v


def copy_matching(dst: nn.Module, src: nn.Module) -> List[str]:
    """Copies every weight of `src` whose name and shape match one of `dst` (names compared
    without `dst`'s leading `inner.`); returns the names copied."""
    state = src.state_dict()
    copied = []
    with torch.no_grad():
        for name, t in dst.state_dict().items():
            s = state.get(name[len('inner.'):] if name.startswith('inner.') else name)
            if s is not None and tuple(s.shape) == tuple(t.shape):
                t.copy_(s)
                copied.append(name)
    return copied


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def export_onnx(model: nn.Module, input_shape: Sequence[int], path: str) -> None:
    """Exports with input `input` [-1, *input_shape] and output `logits` [-1, classes]."""
    model.eval()
    dummy = torch.zeros((1, *input_shape), dtype=torch.float32)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # torch 1.13 warns about constant folding on every export
        torch.onnx.export(model, dummy, path, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
                          opset_version=13, do_constant_folding=True)


def onnx_io(path: str) -> Dict[str, Any]:
    """Input/output names and shapes of an ONNX model (-1 for symbolic dimensions)."""
    import onnx
    try:
        m = onnx.load(path)
    except Exception as e:  # onnx raises several types for unreadable files
        raise TrainError(f'cannot read ONNX model {path}: {e}; pass a model exported by parm train')

    def shape(vi):
        return [d.dim_value if d.HasField('dim_value') else -1 for d in vi.type.tensor_type.shape.dim]

    inits = {i.name for i in m.graph.initializer}
    ins = [vi for vi in m.graph.input if vi.name not in inits]
    if len(ins) != 1 or len(m.graph.output) != 1:
        raise TrainError(f'{path}: expected one input and one output, found {len(ins)} and {len(m.graph.output)}')
    return {'input': {'name': ins[0].name, 'shape': shape(ins[0])},
            'output': {'name': m.graph.output[0].name, 'shape': shape(m.graph.output[0])}}


def load_onnx_into(model: nn.Module, path: str) -> None:
    """Copies the ONNX initializers of a model exported from the same architecture into `model`."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    weights = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    state = model.state_dict()
    missing = [n for n in state if n not in weights]
    if missing:
        raise TrainError(f'{path} does not match the architecture in its model card (no weight {missing[0]}); '
                         f'retrain the deployed model with parm train deployed')
    for name, t in state.items():
        w = weights[name]
        if tuple(w.shape) != tuple(t.shape):
            raise TrainError(f'{path}: weight {name} has shape {list(w.shape)}, the card says {list(t.shape)}')
        t.copy_(torch.from_numpy(np.array(w)))
