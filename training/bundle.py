"""The recipes of the bundled Fashion-MNIST models: `python3 -m training bundle` retrains all of
them from scratch into a models folder and writes its manifest. Each model card also records the
exact command that trained it, so one model can be retrained alone.
"""
from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
from typing import List, Tuple

from .errors import TrainError
from .manifest import write_manifest

# (output path under the models folder, arguments after `parm train`); order matters: a deployed
# model before its parity models. All parity models start from the deployed model's weights;
# summation parity models have the deployed architecture, concatenation parity models are
# `tiled` (the deployed network on each tile, outputs summed); docs/training.md has what each
# choice bought.
SUM = ['--init', 'deployed', '--schedule', 'cosine', '--ce-weight', '1']
CONCAT = ['--model', 'tiled', '--init', 'deployed', '--schedule', 'cosine', '--ce-weight', '1']
DEPLOYED = {'mlp': ['--model', 'mlp', '--epochs', '20'], 'cnn': ['--model', 'cnn', '--epochs', '15']}
EPOCHS = {('mlp', 'sum'): 30, ('cnn', 'sum'): 15, ('mlp', 'concat'): 10, ('cnn', 'concat'): 5,
          ('cnn', 'sum', 3): 30, ('cnn', 'sum', 4): 30}


def recipes(models: str) -> List[Tuple[str, List[str]]]:
    out: List[Tuple[str, List[str]]] = []
    for kind in ('mlp', 'cnn'):
        base = f'{models}/fashion-mnist/{kind}'
        out.append((f'{base}/deployed.onnx', ['deployed', *DEPLOYED[kind], '--out', f'{base}/deployed.onnx']))
        for encoder, ks, extra in (('sum', (2, 3, 4), SUM), ('concat', (2, 3, 4), CONCAT)):
            for k in ks:
                path = f'{base}/parity-{encoder}-k{k}.onnx'
                out.append((path, ['parity', '--deployed', f'{base}/deployed.onnx', '--k', str(k), '--encoder', encoder,
                                   *extra, '--epochs', str(EPOCHS.get((kind, encoder, k), EPOCHS[(kind, encoder)])), '--out', path]))
    return out


def run_bundle(models: str, only: str | None, dry_run: bool) -> None:
    todo = [(p, a) for p, a in recipes(models) if only is None or fnmatch.fnmatch(p, only)]
    if not todo:
        raise TrainError(f'no bundled model matches --only {only!r}')
    for path, args in todo:
        cmd = [sys.executable, '-m', 'training', *args]
        print('parm train ' + ' '.join(args), flush=True)
        if dry_run:
            continue
        env = {**os.environ, 'OPENBLAS_NUM_THREADS': '1'}
        if subprocess.run(cmd, env=env).returncode != 0:
            raise TrainError(f'training {path} failed (see above)')
    if not dry_run:
        write_manifest(models, 'fashion-mnist-mlp')
