"""Dataset readers: IDX (MNIST / Fashion-MNIST format, optionally gzipped) and a .npy layout.

Contract 3: image inputs are float32 scaled to [0, 1] (pixel / 255), shape [N, 1, H, W]; no
mean/std normalisation. Labels are int64 class indices.

A dataset directory holds one of two layouts (checked in this order):

  IDX:  train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
        t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]
  NPY:  train-inputs.npy  train-labels.npy  test-inputs.npy  test-labels.npy
        inputs: float32 array [N, ...] already scaled as the model expects (any shape, e.g.
        [N, 40] feature vectors or [N, 1, 28, 28] images); labels: integer array [N].
        An optional classes.json (a JSON list of class names) names the classes.
"""
from __future__ import annotations

import gzip
import json
import os
import struct
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .errors import TrainError

FASHION_MNIST_CLASSES = [
    'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
    'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]
DEFAULT_DATASET_DIR = '/usr/share/datasets/fashion-mnist'

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype('>i2'), 0x0C: np.dtype('>i4'),
               0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8')}


@dataclass
class Split:
    inputs: np.ndarray  # float32 [N, ...]
    labels: np.ndarray  # int64 [N]


@dataclass
class Dataset:
    name: str
    path: str
    layout: str  # 'idx' or 'npy'
    train: Split
    test: Split
    classes: List[str]

    @property
    def input_shape(self) -> List[int]:
        return list(self.train.inputs.shape[1:])


def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file (gzipped if its name ends in .gz) into a numpy array."""
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise TrainError(f'cannot read IDX file {path}: {e.strerror or e}; check the dataset path')
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise TrainError(f'{path} is not an IDX file (bad magic number); pass an MNIST-format dataset')
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise TrainError(f'{path}: truncated IDX header')
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    count = int(np.prod(dims)) if ndim else 1
    body = data[4 + 4 * ndim:]
    if len(body) < count * dtype.itemsize:
        raise TrainError(f'{path}: IDX body has {len(body)} bytes, header promises {count * dtype.itemsize}')
    return np.frombuffer(body, dtype=dtype, count=count).reshape(dims)


def _find(dirpath: str, stem: str) -> Optional[str]:
    for name in (stem, stem + '.gz'):
        p = os.path.join(dirpath, name)
        if os.path.isfile(p):
            return p
    return None


def _idx_split(dirpath: str, prefix: str) -> Optional[Split]:
    img = _find(dirpath, f'{prefix}-images-idx3-ubyte')
    lab = _find(dirpath, f'{prefix}-labels-idx1-ubyte')
    if img is None or lab is None:
        return None
    images = read_idx(img)
    labels = read_idx(lab)
    if images.ndim != 3:
        raise TrainError(f'{img}: expected a 3-d IDX image set [N, H, W], got {images.ndim} dimensions')
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise TrainError(f'{lab}: {labels.shape[0] if labels.ndim else 0} labels for {images.shape[0]} images')
    x = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
    return Split(np.ascontiguousarray(x), labels.astype(np.int64))


def _npy_split(dirpath: str, prefix: str) -> Optional[Split]:
    xi = os.path.join(dirpath, f'{prefix}-inputs.npy')
    yl = os.path.join(dirpath, f'{prefix}-labels.npy')
    if not (os.path.isfile(xi) and os.path.isfile(yl)):
        return None
    x = np.load(xi, allow_pickle=False)
    y = np.load(yl, allow_pickle=False)
    if x.dtype != np.float32:
        raise TrainError(f'{xi}: inputs must be float32, got {x.dtype}; convert with arr.astype(np.float32)')
    if y.ndim != 1 or y.shape[0] != x.shape[0] or not np.issubdtype(y.dtype, np.integer):
        raise TrainError(f'{yl}: labels must be an integer array of length {x.shape[0]}')
    return Split(np.ascontiguousarray(x), y.astype(np.int64))


def load_dataset(path: str, name: Optional[str] = None) -> Dataset:
    """Loads a dataset directory (IDX or NPY layout, see the module comment)."""
    if not os.path.isdir(path):
        raise TrainError(f'dataset directory {path} does not exist; pass --dataset DIR with IDX or .npy files '
                         f'(Fashion-MNIST: apt-get install dataset-fashion-mnist, then {DEFAULT_DATASET_DIR})')
    for layout, reader in (('idx', _idx_split), ('npy', _npy_split)):
        train = reader(path, 'train')
        test = reader(path, 't10k' if layout == 'idx' else 'test')
        if train is not None and test is not None:
            break
    else:
        raise TrainError(f'{path} holds no dataset: expected train-images-idx3-ubyte[.gz] and friends, '
                         f'or train-inputs.npy/train-labels.npy/test-inputs.npy/test-labels.npy')
    if train.inputs.shape[1:] != test.inputs.shape[1:]:
        raise TrainError(f'{path}: train inputs {list(train.inputs.shape[1:])} and test inputs '
                         f'{list(test.inputs.shape[1:])} differ in shape')
    n_classes = int(max(train.labels.max(), test.labels.max())) + 1
    classes_file = os.path.join(path, 'classes.json')
    if os.path.isfile(classes_file):
        with open(classes_file) as f:
            classes = [str(c) for c in json.load(f)]
    elif 'fashion' in os.path.basename(os.path.normpath(path)).lower() and n_classes == 10:
        classes = list(FASHION_MNIST_CLASSES)
    else:
        classes = [str(i) for i in range(n_classes)]
    ds_name = name or os.path.basename(os.path.normpath(path))
    return Dataset(ds_name, os.path.abspath(path), layout, train, test, classes)
