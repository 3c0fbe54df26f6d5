"""The cost rule applied to training: resolves a parity architecture and refuses one over budget.

A ParM parity model may cost no more multiply-adds per query than its deployed model
(cost.count_macs on the exported ONNX graphs, batch 1). `resolve_parity_arch` turns the user's
choice (`--model` ...) into a full architecture, sizes the inner network of a `split` model to the
budget when no widths are given, and `check_budget` raises a TrainError for an architecture over
budget unless the caller allows it (`--allow-costlier`, which marks the card within_budget: false).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Any, Dict, List, Optional, Sequence

from . import cost, models
from .errors import TrainError


def _scaled(arch: Dict[str, Any], s: float) -> Dict[str, Any]:
    out = json.loads(json.dumps(arch))
    for key in ('hidden', 'channels'):
        if key in out:
            out[key] = [max(1, int(round(w * s))) for w in out[key]]
    return out


def arch_macs(arch: Dict[str, Any], input_shape: Sequence[int], classes: int) -> int:
    """Multiply-adds of an architecture, counted on its exported ONNX graph (random weights)."""
    model = models.build(arch, input_shape, classes)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'candidate.onnx')
        models.export_onnx(model, input_shape, path)
        return int(cost.count_macs(path, 'parity architecture')['macs'])


def resolve_parity_arch(spec: Optional[Dict[str, Any]], deployed_arch: Dict[str, Any], k: int, encoder: str,
                        input_shape: Sequence[int], classes: int, deployed_macs: int) -> Dict[str, Any]:
    """The full parity architecture for a user's --model choice (None: the deployed architecture)."""
    if spec is None:
        return json.loads(json.dumps(deployed_arch))
    kind = spec['kind']
    if kind in ('tiled', 'split') and encoder != 'concat':
        raise TrainError(f"--model {kind} reads the concat encoder's tiles: use --encoder concat")
    if kind == 'tiled':
        return {'kind': 'tiled', 'k': k, 'inner': json.loads(json.dumps(deployed_arch))}
    if kind != 'split':
        return spec
    inner_kind = spec.get('inner_kind', deployed_arch['kind'])
    base = (json.loads(json.dumps(deployed_arch)) if inner_kind == deployed_arch['kind']
            else json.loads(json.dumps(models.DEFAULT_ARCH[inner_kind])))
    given = {key: spec[key] for key in ('hidden', 'channels') if key in spec}
    if 'channels' in given and inner_kind != 'cnn':
        raise TrainError('--channels applies to a cnn inner network only (--inner cnn)')
    if given:
        base.update(given)
        return {'kind': 'split', 'k': k, 'inner': base}
    # No widths given: the deployed widths if k runs of them fit in one deployed query (so that a
    # cnn inner network can start from the deployed convolutions), else scaled down by the largest
    # factor (to 1/64) that fits; an inner network of another kind than the deployed one: its
    # default widths scaled by the largest factor up to 4 that fits.
    def fits(s: float) -> bool:
        return arch_macs({'kind': 'split', 'k': k, 'inner': _scaled(base, s)}, input_shape, classes) <= deployed_macs
    same_kind = inner_kind == deployed_arch['kind']
    if same_kind and fits(1.0):
        return {'kind': 'split', 'k': k, 'inner': base}
    lo, hi = (1.0, 4.0) if fits(1.0) else (0.0, 1.0)
    if lo == 1.0 and fits(hi):
        lo = hi
    for _ in range(7):
        if hi - lo < 1 / 64:
            break
        mid = (lo + hi) / 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    if lo == 0.0:
        raise TrainError(f'no split parity network fits the budget of {deployed_macs} multiply-adds at k = {k}; '
                         f'give --hidden/--channels explicitly')
    return {'kind': 'split', 'k': k, 'inner': _scaled(base, lo)}


def check_budget(arch: Dict[str, Any], input_shape: Sequence[int], classes: int, deployed_macs: int,
                 allow_costlier: bool) -> Dict[str, Any]:
    """Counts the architecture's multiply-adds; raises over budget unless allowed."""
    macs = arch_macs(arch, input_shape, classes)
    ratio = macs / deployed_macs
    if ratio > cost.BUDGET and not allow_costlier:
        raise TrainError(
            f'parity architecture {arch["kind"]} costs {macs} multiply-adds per query, {ratio:.2f}x the deployed '
            f"model's {deployed_macs}: a ParM parity model may cost at most {cost.BUDGET:.1f}x (the cost rule, "
            f'docs/training.md). Use a smaller architecture (e.g. --model split for the concat encoder, or smaller '
            f'--hidden/--channels), or pass --allow-costlier to train it as a non-ParM baseline '
            f'(its card says "within_budget": false and parm train manifest leaves it out)')
    return {'parity_macs': macs, 'deployed_macs': deployed_macs, 'parity_flops_ratio': ratio,
            'within_budget': ratio <= cost.BUDGET}


def describe(arch: Dict[str, Any]) -> str:
    """A short human name of an architecture, for logs and curves."""
    if arch['kind'] in ('split', 'tiled'):
        inner = arch['inner']
        widths: List[str] = [str(w) for w in inner.get('channels', [])] + [str(w) for w in inner.get('hidden', [])]
        return f'{arch["kind"]}[{inner["kind"]} {"-".join(widths)}]'
    return arch['kind']


def latency(deployed_path: str, parity_path: str) -> Dict[str, Any]:
    """parity_latency_ratio measured by onnxruntime-node (`parm eval --cost`, one thread, batch 1,
    side by side in one process). {'parity_latency_ratio': None, 'reason': ...} when Node or the
    compiled CLI (dist/, built by npm ci) is not there: the FLOPs ratio alone decides the budget."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cli = os.path.join(root, 'bin', 'parm.js')
    node = os.environ.get('PARM_NODE') or shutil.which('node')
    if node is None or not os.path.isfile(os.path.join(root, 'dist', 'src', 'cli', 'main.js')):
        return {'parity_latency_ratio': None,
                'reason': 'not measured: needs node and the compiled CLI (npm ci); run parm eval --cost'}
    run = subprocess.run([node, cli, 'eval', '--cost', deployed_path, parity_path, '--json', '--quiet'],
                         capture_output=True, text=True, cwd=root)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ['no output'])[-1]
        return {'parity_latency_ratio': None, 'reason': f'not measured: parm eval --cost failed: {last}'}
    rec = json.loads(run.stdout)
    return {'parity_latency_ratio': rec['parity_latency_ratio'], 'latency': rec['latency']}


COST_METHOD = ('multiply-adds of Gemm/MatMul/Conv in the ONNX graphs at batch 1 (training/cost.py); latency: '
               'onnxruntime-node, one thread, batch 1, median of alternating runs (parm eval --cost)')


def card_cost(deployed_path: str, parity_path: str) -> Dict[str, Any]:
    """The cost rule's fields of a parity model's card, measured on the exported graphs."""
    rule = cost.budget(deployed_path, parity_path)
    lat = latency(deployed_path, parity_path)
    return {'parity_flops_ratio': rule['parity_flops_ratio'], 'parity_latency_ratio': lat['parity_latency_ratio'],
            'within_budget': rule['within_budget'],
            'cost': {'deployed_macs': rule['deployed_macs'], 'parity_macs': rule['parity_macs'], 'method': COST_METHOD,
                     **{key: v for key, v in lat.items() if key != 'parity_latency_ratio'}}}


def deployed_card_cost(path: str) -> Dict[str, Any]:
    return {'macs': cost.count_macs(path)['macs'], 'method': COST_METHOD.split(';')[0]}


def write_card_costs(paths: Sequence[str]) -> None:
    """`parm train cost --write-card MODEL.onnx...`: (re)measures the cost rule of each model and
    writes it into the model's card (for cards written before the rule, or after a re-export)."""
    for path in paths:
        card_file = os.path.splitext(path)[0] + '.json'
        if not (os.path.isfile(path) and os.path.isfile(card_file)):
            raise TrainError(f'{path}: needs the model and its card {card_file}')
        with open(card_file) as f:
            card = json.load(f)
        if card.get('role') == 'parity':
            deployed = os.path.normpath(os.path.join(os.path.dirname(path), card['deployed']))
            fields = card_cost(deployed, path)
            # Keep the card's key order; new fields go before the accuracy figures.
            out: Dict[str, Any] = {}
            for key, v in card.items():
                if key == 'accuracy':
                    out.update(fields)
                if key not in fields:
                    out[key] = v
            card = {**out, **{key: v for key, v in fields.items() if key not in out}}
            print(f'{path}: parity_flops_ratio {fields["parity_flops_ratio"]:.3f}, parity_latency_ratio '
                  f'{fields["parity_latency_ratio"]}, within_budget {fields["within_budget"]}')
        else:
            card['cost'] = deployed_card_cost(path)
            print(f'{path}: {card["cost"]["macs"]} multiply-adds')
        with open(card_file, 'w') as f:
            json.dump(card, f, indent=2)
            f.write('\n')
