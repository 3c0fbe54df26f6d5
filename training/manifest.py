"""Writes models/manifest.json (Contract 3) from the model cards under a models folder.

A deployment is a folder <dataset>/<model>/ holding deployed.onnx + deployed.json and parity
models parity-<encoder>-k<k>.onnx + .json; it is named `<dataset>-<model>`. Only parity models
within the cost rule are listed (a card with "within_budget": false, trained with
--allow-costlier, is an approximate-replica baseline, not a ParM parity model). Each card's
coefficients (weighted sum encoder) go into the entry, where the engine reads them.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from .errors import TrainError


def _parity_entries(models_dir: str, root: str, files: List[str]) -> List[Dict[str, Any]]:
    rel = os.path.relpath(root, models_dir).replace(os.sep, '/')
    parity = []
    for name in sorted(files):
        if not (name.startswith('parity-') and name.endswith('.json') and name[:-5] + '.onnx' in files):
            continue
        with open(os.path.join(root, name)) as f:
            pc = json.load(f)
        if pc.get('within_budget') is False:
            print(f'left out {rel}/{name[:-5]}.onnx: over the cost rule (parity_flops_ratio '
                  f'{pc.get("parity_flops_ratio", 0):.2f} > 1), not a ParM parity model')
            continue
        entry = {'k': pc['k'], 'encoder': pc['encoder'], 'path': f'{rel}/{name[:-5]}.onnx', 'card': f'{rel}/{name}',
                 '_deployed': os.path.normpath(os.path.join(root, pc.get('deployed', 'deployed.onnx')))}
        if pc.get('coefficients') is not None:
            entry['coefficients'] = pc['coefficients']
        parity.append(entry)
    parity.sort(key=lambda p: (p['encoder'] != 'sum', p['encoder'], p['k']))
    return parity


def write_manifest(models_dir: str, default: str) -> Dict[str, Any]:
    """A deployment per folder that holds deployed.onnx + deployed.json, or only parity models whose
    cards name one deployed model elsewhere under models_dir (a second set of parity models for the
    same deployed model, e.g. another architecture); named <dataset>-<folder name>."""
    if not os.path.isdir(models_dir):
        raise TrainError(f'models folder {models_dir} does not exist')
    deployments: Dict[str, Any] = {}
    for root, _dirs, files in sorted(os.walk(models_dir)):
        parity = _parity_entries(models_dir, root, files)
        if 'deployed.json' in files and 'deployed.onnx' in files:
            deployed = os.path.normpath(os.path.join(root, 'deployed.onnx'))
        elif parity and len({p['_deployed'] for p in parity}) == 1:
            deployed = parity[0]['_deployed']
            if not (os.path.isfile(deployed) and os.path.isfile(deployed[:-5] + '.json')):
                raise TrainError(f'{root}: its parity models name deployed model {deployed}, which does not exist')
        else:
            continue
        stray = [p['path'] for p in parity if p['_deployed'] != deployed]
        if stray:
            raise TrainError(f'{stray[0]} was trained for another deployed model than {deployed}; move it')
        for p in parity:
            del p['_deployed']
        with open(deployed[:-5] + '.json') as f:
            card = json.load(f)
        rel_dep = os.path.relpath(deployed, models_dir).replace(os.sep, '/')
        dataset = card['dataset']['name']
        deployments[f'{dataset}-{os.path.basename(root)}'] = {
            'dataset': dataset, 'model': card['architecture']['kind'], 'deployed': rel_dep,
            'card': rel_dep[:-5] + '.json', 'input': card['input'], 'output': card['output'],
            'classes': card['dataset']['classes'], 'parity': parity,
        }
    if default not in deployments:
        raise TrainError(f"default deployment '{default}' not found under {models_dir} "
                         f"(found: {', '.join(sorted(deployments)) or 'none'})")
    manifest = {'version': 1, 'default': default, 'deployments': deployments}
    with open(os.path.join(models_dir, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    print(f'wrote {os.path.join(models_dir, "manifest.json")}: {len(deployments)} deployments')
    return manifest
