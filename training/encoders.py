"""Encoders and the subtraction decoder, in the exact float32 arithmetic of Contract 2.

These are the same operations, in the same order, as the native addon's scalar reference
kernels, so a parity model is trained on bit-for-bit the parity queries the server will send it
(test/fixtures/golden/ holds the evidence; `python3 -m training golden` regenerates it).
numpy is used rather than torch: every step below is one float32 ufunc (a product is rounded to
float32 before the add; there is no fused multiply-add and no reciprocal trick for division).
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .errors import TrainError

ENCODERS = ('sum', 'concat')
F32 = np.float32


def encode_sum(inputs: np.ndarray, weights: Optional[Sequence[float]] = None) -> np.ndarray:
    """Summation encoder. inputs: float32 [B, k, ...] (k members per group) -> [B, ...].

    acc = w_0*x_0; acc = acc + w_i*x_i for i = 1..k-1 (float32 product, then float32 add).
    With no weights, w_i = 1 and each product is exact, so the products are skipped.
    """
    x = _f32(inputs, 'inputs')
    k = x.shape[1]
    if weights is None:
        acc = x[:, 0].copy()
        for i in range(1, k):
            acc = acc + x[:, i]
        return acc
    w = np.asarray(weights, dtype=F32)
    if w.shape != (k,):
        raise TrainError(f'weights has {w.size} entries, expected k = {k}')
    acc = w[0] * x[:, 0]
    for i in range(1, k):
        acc = acc + w[i] * x[:, i]
    return acc


def concat_grid(k: int, grid: Optional[Tuple[int, int]] = None) -> Tuple[int, int]:
    """Default grid: R = floor(sqrt(k)) rows, G = ceil(k / R) columns."""
    if grid is not None:
        r, g = int(grid[0]), int(grid[1])
        if r < 1 or g < 1 or r * g < k:
            raise TrainError(f'grid {r}x{g} has fewer than k = {k} tiles')
        return r, g
    r = math.isqrt(k)
    return r, -(-k // r)


def _overlaps(n_out: int, n_in: int) -> Tuple[np.ndarray, np.ndarray]:
    """For each output index o of a length-n_out tile resampled from n_in input pixels: the
    contributing input indices (ascending) and the overlap lengths of [o*n_in, (o+1)*n_in) with
    [i*n_out, (i+1)*n_out), padded with (index 0, overlap 0) to a common width."""
    rows = []
    for o in range(n_out):
        lo, hi = o * n_in, (o + 1) * n_in
        terms = []
        for i in range(n_in):
            ov = min(hi, (i + 1) * n_out) - max(lo, i * n_out)
            if ov > 0:
                terms.append((i, ov))
        rows.append(terms)
    width = max(len(t) for t in rows)
    idx = np.zeros((n_out, width), dtype=np.int64)
    ovl = np.zeros((n_out, width), dtype=np.int64)
    for o, terms in enumerate(rows):
        for j, (i, ov) in enumerate(terms):
            idx[o, j] = i
            ovl[o, j] = ov
    return idx, ovl


def encode_concat(images: np.ndarray, grid: Optional[Tuple[int, int]] = None,
                  layout: str = 'nchw') -> np.ndarray:
    """Image concatenation encoder. images: float32 [B, k, C, H, W] (layout 'nchw') or
    [B, k, H, W, C] ('nhwc') -> one image per group of the same shape and layout.

    Image i is area-averaged into tile (i // G, i % G); per output pixel and channel:
    acc = 0; for y ascending, x ascending with nonzero overlap: acc = acc + img[y][x] *
    float(ovy * ovx); out = acc / float(H * W). Padding terms of overlap 0 add +-0 to an acc
    that is never -0, so they leave the float result unchanged.
    """
    x = _f32(images, 'images')
    if x.ndim != 5:
        raise TrainError(f'concat encoder needs images [B, k, C, H, W], got {list(x.shape)}')
    if layout == 'nhwc':
        x = np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3))
    elif layout != 'nchw':
        raise TrainError(f"unknown layout '{layout}': use nchw or nhwc")
    b, k, c, h, w = x.shape
    rows, cols = concat_grid(k, grid)
    out = np.zeros((b, c, h, w), dtype=F32)
    hw = F32(h * w)
    for i in range(k):
        r, g = divmod(i, cols)
        y0, y1 = r * h // rows, (r + 1) * h // rows
        x0, x1 = g * w // cols, (g + 1) * w // cols
        th, tw = y1 - y0, x1 - x0
        if th == 0 or tw == 0:
            continue
        yi, yo = _overlaps(th, h)
        xi, xo = _overlaps(tw, w)
        img = x[:, i]
        acc = np.zeros((b, c, th, tw), dtype=F32)
        for a in range(yi.shape[1]):
            rows_a = img[:, :, yi[:, a], :]  # [b, c, th, w]
            for bb in range(xi.shape[1]):
                wt = (yo[:, a][:, None] * xo[:, bb][None, :]).astype(F32)  # exact: <= H*W
                acc = acc + rows_a[:, :, :, xi[:, bb]] * wt
        out[:, :, y0:y1, x0:x1] = acc / hw
    if layout == 'nhwc':
        out = np.ascontiguousarray(out.transpose(0, 2, 3, 1))
    return out


def encode(encoder: str, members: np.ndarray) -> np.ndarray:
    """members: float32 [B, k, *input_shape] -> parity queries [B, *input_shape]."""
    if encoder == 'sum':
        return encode_sum(members)
    if encoder == 'concat':
        if members.ndim != 5:
            raise TrainError(f'the concat encoder needs image inputs [C, H, W]; this dataset has '
                             f'inputs {list(members.shape[2:])}: use --encoder sum')
        return encode_concat(members)
    raise TrainError(f"unknown encoder '{encoder}': use one of {', '.join(ENCODERS)}")


def decode_one(parity: np.ndarray, others: List[np.ndarray], missing: int,
               weights: Optional[Sequence[float]] = None) -> np.ndarray:
    """Subtraction decoder for one missing member. others: the k outputs in member order with the
    missing one ignored. acc = p; for j ascending, j != missing: acc = acc - w_j*F_j; out = acc / w_i."""
    k = len(others)
    w = np.ones(k, dtype=F32) if weights is None else np.asarray(weights, dtype=F32)
    acc = _f32(parity, 'parity').copy()
    for j in range(k):
        if j != missing:
            acc = acc - (others[j] if weights is None else w[j] * others[j])
    return acc if weights is None else acc / w[missing]


def _f32(a: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype != np.float32:
        raise TrainError(f'{name} must be a float32 numpy array')
    return a
