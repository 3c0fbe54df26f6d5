"""Golden encoder fixtures: the trainer's encoders applied to fixed random inputs, written so the
native addon's output can be compared bit for bit (test/training/golden.test.ts).

Layout of the folder: index.json lists the cases; each case's arrays are raw little-endian
float32 files. Regenerate with `python3 -m training golden --out test/fixtures/golden` (the
inputs come from a fixed seed, so the files only change if the encoder arithmetic does).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import numpy as np

from . import encoders

SEED = 20191027  # SOSP 2019


def _inputs(rng: np.random.Generator, shape) -> np.ndarray:
    # Mixed signs and magnitudes make rounding differences visible; a few exact pixel values
    # (multiples of 1/255) as the server sees them.
    x = (rng.standard_normal(shape) * np.exp(rng.uniform(-4, 4, shape))).astype(np.float32)
    px = (rng.integers(0, 256, shape).astype(np.float32) / np.float32(255.0))
    mask = rng.random(shape) < 0.3
    x[mask] = px[mask]
    return x


def _write(folder: str, name: str, arr: np.ndarray) -> str:
    fname = name + '.f32'
    np.ascontiguousarray(arr, dtype='<f4').tofile(os.path.join(folder, fname))
    return fname


def write_golden(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(SEED)
    cases: List[Dict[str, Any]] = []
    # Summation, odd lengths so SIMD tails are covered; with and without weights.
    for k in (2, 3, 4, 8):
        for weighted in (False, True):
            n = 1031
            x = _inputs(rng, (1, k, n))
            w = [float(v) for v in rng.uniform(-2, 2, k).astype(np.float32)] if weighted else None
            out = encoders.encode_sum(x, w)[0]
            name = f'sum-k{k}' + ('-weighted' if weighted else '')
            cases.append({'name': name, 'op': 'sum', 'k': k, 'elements': n, 'weights': w,
                          'inputs': _write(folder, name + '.inputs', x[0]), 'output': _write(folder, name + '.output', out)})
    # Concatenation: Fashion-MNIST shape and an odd colour shape, both layouts, k = 2, 3, 4 (+5, 8).
    for (c, h, w_) in ((1, 28, 28), (3, 17, 23)):
        for k in (2, 3, 4, 5, 8):
            for layout in ('nchw', 'nhwc'):
                shape = (1, k, c, h, w_) if layout == 'nchw' else (1, k, h, w_, c)
                x = _inputs(rng, shape)
                out = encoders.encode_concat(x, layout=layout)[0]
                rows, cols = encoders.concat_grid(k)
                name = f'concat-k{k}-{c}x{h}x{w_}-{layout}'
                cases.append({'name': name, 'op': 'concat', 'k': k, 'channels': c, 'height': h, 'width': w_,
                              'layout': layout, 'grid': [rows, cols],
                              'inputs': _write(folder, name + '.inputs', x[0]), 'output': _write(folder, name + '.output', out)})
    # Subtraction decoder: one missing member, with and without a weighted parity row.
    for k in (2, 4):
        for weighted in (False, True):
            n = 10
            outs = _inputs(rng, (k, 1, n))
            w = [float(v) for v in rng.uniform(0.5, 2, k).astype(np.float32)] if weighted else None
            parity = encoders.encode_sum(outs.transpose(1, 0, 2), w)[0] + _inputs(rng, (n,))  # a parity model is approximate
            missing = k - 2
            rec = encoders.decode_one(parity, [outs[j, 0] for j in range(k)], missing, w)
            name = f'decode-k{k}' + ('-weighted' if weighted else '')
            cases.append({'name': name, 'op': 'decode', 'k': k, 'elements': n, 'weights': w, 'missing': missing,
                          'parity': _write(folder, name + '.parity', parity), 'inputs': _write(folder, name + '.inputs', outs[:, 0]),
                          'output': _write(folder, name + '.output', rec)})
    index = {'generator': 'python3 -m training golden --out test/fixtures/golden', 'seed': SEED,
             'format': 'raw little-endian float32; inputs are the k members one after another, each in the case layout',
             'cases': cases}
    with open(os.path.join(folder, 'index.json'), 'w') as f:
        json.dump(index, f, indent=1)
        f.write('\n')
    print(f'wrote {len(cases)} golden cases to {folder}')
