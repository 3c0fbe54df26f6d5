"""Writes models/manifest.json (Contract 3) from the model cards under a models folder.

A deployment is a folder <dataset>/<model>/ holding deployed.onnx + deployed.json and parity
models parity-<encoder>-k<k>.onnx + .json; it is named `<dataset>-<model>`. Only parity models
within the cost rule are listed, counted on the graphs (cost.budget), not taken from the card: a
model trained with --allow-costlier, or a card written before the rule, is an approximate-replica
baseline, not a ParM parity model. Each card's coefficients (weighted sum encoder) go into the
entry, where the engine reads them. A deployment's `encoder` is the one a user gets without
choosing: the encoder of its most accurate k = 2 parity model by the cards' degraded test accuracy.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from . import cost
from .errors import TrainError


def _parity_entries(models_dir: str, root: str, files: List[str]) -> List[Dict[str, Any]]:
    rel = os.path.relpath(root, models_dir).replace(os.sep, '/')
    parity = []
    for name in sorted(files):
        if not (name.startswith('parity-') and name.endswith('.json') and name[:-5] + '.onnx' in files):
            continue
        with open(os.path.join(root, name)) as f:
            pc = json.load(f)
        rule = cost.budget(os.path.join(root, 'deployed.onnx'), os.path.join(root, name[:-5] + '.onnx'))
        if not rule['within_budget'] or pc.get('within_budget') is False:
            print(f'left out {rel}/{name[:-5]}.onnx: over the cost rule (parity_flops_ratio '
                  f'{rule["parity_flops_ratio"]:.2f} > 1), not a ParM parity model')
            continue
        entry = {'k': pc['k'], 'encoder': pc['encoder'], 'path': f'{rel}/{name[:-5]}.onnx', 'card': f'{rel}/{name}'}
        if pc.get('coefficients') is not None:
            entry['coefficients'] = pc['coefficients']
        parity.append(entry)
    parity.sort(key=lambda p: (p['encoder'] != 'sum', p['encoder'], p['k']))
    return parity


def _default_encoder(models_dir: str, parity: List[Dict[str, Any]]) -> str:
    """The encoder of the k = 2 parity model with the best degraded test accuracy ('sum' if none says)."""
    best, best_acc = 'sum', -1.0
    for p in parity:
        if p['k'] != 2:
            continue
        with open(os.path.join(models_dir, p['card'])) as f:
            acc = json.load(f).get('accuracy', {}).get('degraded_test')
        if isinstance(acc, (int, float)) and acc > best_acc:
            best, best_acc = p['encoder'], float(acc)
    return best


def write_manifest(models_dir: str, default: str) -> Dict[str, Any]:
    if not os.path.isdir(models_dir):
        raise TrainError(f'models folder {models_dir} does not exist')
    deployments: Dict[str, Any] = {}
    for root, _dirs, files in sorted(os.walk(models_dir)):
        if 'deployed.json' not in files or 'deployed.onnx' not in files:
            continue
        with open(os.path.join(root, 'deployed.json')) as f:
            card = json.load(f)
        rel = os.path.relpath(root, models_dir).replace(os.sep, '/')
        dataset = card['dataset']['name']
        model = card['architecture']['kind']
        deployments[f'{dataset}-{model}'] = {
            'dataset': dataset, 'model': model, 'deployed': f'{rel}/deployed.onnx', 'card': f'{rel}/deployed.json',
            'input': card['input'], 'output': card['output'], 'classes': card['dataset']['classes'],
            'parity': _parity_entries(models_dir, root, files),
        }
        deployments[f'{dataset}-{model}']['encoder'] = _default_encoder(models_dir, deployments[f'{dataset}-{model}']['parity'])
    if default not in deployments:
        raise TrainError(f"default deployment '{default}' not found under {models_dir} "
                         f"(found: {', '.join(sorted(deployments)) or 'none'})")
    manifest = {'version': 1, 'default': default, 'deployments': deployments}
    with open(os.path.join(models_dir, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    print(f'wrote {os.path.join(models_dir, "manifest.json")}: {len(deployments)} deployments')
    return manifest
