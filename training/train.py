"""Training loops: a deployed classifier, and a parity model for a deployed model (PARM.md recipe).

Parity recipe: random groups of k training inputs, encoded with the serving encoder (encoders.py);
target = the sum of the deployed model's raw logits over the k members (computed once, cached);
loss = MSE (optionally plus a cross-entropy term on the decoded reconstructions, --ce-weight);
Adam lr 1e-3, weight decay 1e-5; 5000 training inputs held out; the checkpoint kept is the one
with the best held-out reconstruction accuracy measured with the subtraction decoder.
"""
from __future__ import annotations

import copy
import json
import math
import os
import platform
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as nnf

from . import budget, cost, encoders, models
from .data import Dataset
from .errors import TrainError
from .plot import write_curve
from .progress import Progress, log

SPLIT_SEED = 0  # fixed, so deployed and parity models share one held-out set


def split_indices(n: int, heldout: int, train_limit: Optional[int]) -> Tuple[np.ndarray, np.ndarray]:
    if heldout < 0 or heldout >= n:
        raise TrainError(f'--heldout must be between 0 and {n - 1} for this dataset, got {heldout}')
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    ho, tr = perm[:heldout], perm[heldout:]
    if train_limit is not None:
        tr = tr[:train_limit]
    return np.sort(tr), np.sort(ho)


def predict(model: torch.nn.Module, x: np.ndarray, batch: int = 2000) -> np.ndarray:
    model.eval()
    outs = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            outs.append(model(torch.from_numpy(x[s:s + batch])).numpy())
    return np.concatenate(outs).astype(np.float32) if outs else np.zeros((0, 0), np.float32)


def degraded_accuracy(parity_out: np.ndarray, member_logits: np.ndarray, labels: np.ndarray,
                      coefficients: Optional[List[float]] = None) -> float:
    """parity_out [G, C], member_logits [G, k, C], labels [G, k]: reconstructs every member with the
    subtraction decoder (Contract 2 order, with the encoder's coefficients if weighted) and returns
    the fraction whose argmax is the true label."""
    g, k, _ = member_logits.shape
    if g == 0:
        return float('nan')
    correct = 0
    for i in range(k):
        others = [member_logits[:, j] for j in range(k)]
        rec = encoders.decode_one(parity_out, others, i, coefficients)
        correct += int((rec.argmax(1) == labels[:, i]).sum())
    return correct / (g * k)


def versions() -> Dict[str, str]:
    import onnx
    return {'python': platform.python_version(), 'torch': torch.__version__, 'onnx': onnx.__version__,
            'numpy': np.__version__}


def card_path(model_path: str) -> str:
    return os.path.splitext(model_path)[0] + '.json'


def curve_path(model_path: str) -> str:
    return os.path.splitext(model_path)[0] + '.svg'


def _dataset_info(ds: Dataset, tr: np.ndarray, ho: np.ndarray) -> Dict[str, Any]:
    return {'name': ds.name, 'path': ds.path, 'layout': ds.layout, 'train': int(len(tr)),
            'heldout': int(len(ho)), 'test': int(len(ds.test.labels)), 'classes': ds.classes,
            'scaling': 'pixel / 255 (IDX); as stored (npy)'}


def _io(ds: Dataset) -> Dict[str, Any]:
    return {'input': {'name': 'input', 'shape': [-1, *ds.input_shape], 'datatype': 'FP32'},
            'output': {'name': 'logits', 'shape': [-1, len(ds.classes)], 'datatype': 'FP32'}}


def _write_card(path: str, card: Dict[str, Any]) -> None:
    with open(path, 'w') as f:
        json.dump(card, f, indent=2)
        f.write('\n')


def train_deployed(ds: Dataset, arch: Dict[str, Any], out: str, *, epochs: int, batch: int, lr: float,
                   weight_decay: float, seed: int, heldout: int, train_limit: Optional[int],
                   progress: bool, command: str) -> Dict[str, Any]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tr, ho = split_indices(len(ds.train.labels), heldout, train_limit)
    model = models.build(arch, ds.input_shape, len(ds.classes))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    x_all = torch.from_numpy(ds.train.inputs)
    y_all = torch.from_numpy(ds.train.labels)
    steps = math.ceil(len(tr) / batch)
    bar = Progress(epochs * steps, f'deployed {arch["kind"]}', progress)
    losses: List[float] = []
    accs: List[float] = []
    best: Tuple[float, int, Dict[str, torch.Tensor]] = (-1.0, -1, {})
    t0 = time.monotonic()
    for epoch in range(epochs):
        model.train()
        perm = torch.from_numpy(rng.permutation(tr))
        total = 0.0
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            loss = nnf.cross_entropy(model(x_all[idx]), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            bar.update(1)
        losses.append(total / len(tr))
        acc = float((predict(model, ds.train.inputs[ho]).argmax(1) == ds.train.labels[ho]).mean()) if len(ho) else 0.0
        accs.append(acc)
        bar.update(0, epoch=epoch + 1, loss=f'{losses[-1]:.4f}', heldout=f'{100 * acc:.2f}%')
        if not progress:  # one line per epoch for logs
            log(f'epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}, held-out accuracy {100 * acc:.2f}%, '
                f'{time.monotonic() - t0:.0f} s')
        if acc > best[0]:
            best = (acc, epoch, copy.deepcopy(model.state_dict()))
    bar.close()
    model.load_state_dict(best[2])
    test_acc = float((predict(model, ds.test.inputs).argmax(1) == ds.test.labels).mean())
    models.export_onnx(model, ds.input_shape, out)
    card = {
        'role': 'deployed', 'name': os.path.splitext(os.path.basename(out))[0],
        'dataset': _dataset_info(ds, tr, ho), 'task': 'image classification' if len(ds.input_shape) == 3 else 'classification',
        **_io(ds), 'k': None, 'encoder': None,
        'architecture': arch, 'parameters': models.param_count(model),
        'cost': budget.deployed_card_cost(out),
        'accuracy': {'test': test_acc, 'heldout_best': best[0]},
        'training': {'command': command, 'seed': seed, 'epochs': epochs, 'best_epoch': best[1] + 1,
                     'batch': batch, 'optimizer': 'Adam', 'lr': lr, 'weight_decay': weight_decay,
                     'loss': 'cross-entropy', 'seconds': round(time.monotonic() - t0, 1),
                     'threads': torch.get_num_threads()},
        'curve': os.path.basename(curve_path(out)), 'versions': versions(),
    }
    _write_card(card_path(out), card)
    write_curve(curve_path(out), f'deployed {arch["kind"]} on {ds.name}: test accuracy {100 * test_acc:.2f}%',
                losses, accs, 'held-out accuracy', best[1])
    log(f'deployed {arch["kind"]}: test accuracy {100 * test_acc:.2f}% (best held-out epoch {best[1] + 1}); wrote {out}')
    return card


def load_deployed(path: str, ds: Dataset) -> Tuple[torch.nn.Module, Dict[str, Any]]:
    if not os.path.isfile(path):
        raise TrainError(f'deployed model {path} does not exist; train one first with parm train deployed')
    io = models.onnx_io(path)
    want = [-1, *ds.input_shape]
    got = io['input']['shape']
    if len(got) != len(want) or any(g != w for g, w in zip(got[1:], want[1:])):
        raise TrainError(f'model {path} takes input {got} but dataset {ds.name} has inputs {want}: '
                         f'pass the dataset the model was trained on, or retrain the model for this dataset')
    out_shape = io['output']['shape']
    if len(out_shape) != 2 or out_shape[1] != len(ds.classes):
        raise TrainError(f'model {path} has output {out_shape} but dataset {ds.name} has {len(ds.classes)} classes')
    cp = card_path(path)
    if not os.path.isfile(cp):
        raise TrainError(f'deployed model {path} has no model card {cp}; parity training rebuilds the model '
                         f'from the architecture in its card: train it with parm train deployed')
    with open(cp) as f:
        card = json.load(f)
    model = models.build(card['architecture'], ds.input_shape, len(ds.classes))
    models.load_onnx_into(model, path)
    model.eval()
    return model, card


def augment(x: np.ndarray, rng: np.random.Generator, shift: int = 2) -> np.ndarray:
    """Random translations by up to `shift` pixels (zero fill) and horizontal flips of images [N, C, H, W]."""
    n, _c, h, w = x.shape
    pad = np.pad(x, ((0, 0), (0, 0), (shift, shift), (shift, shift)))
    dy = rng.integers(0, 2 * shift + 1, n)
    dx = rng.integers(0, 2 * shift + 1, n)
    out = np.empty_like(x)
    for oy in range(2 * shift + 1):
        for ox in range(2 * shift + 1):
            sel = (dy == oy) & (dx == ox)
            out[sel] = pad[sel, :, oy:oy + h, ox:ox + w]
    flip = rng.random(n) < 0.5
    out[flip] = out[flip][..., ::-1]
    return np.ascontiguousarray(out)


def parse_coefficients(text: Optional[str], k: int, encoder: str) -> Optional[List[float]]:
    if text is None:
        return None
    if encoder != 'sum':
        raise TrainError('--coefficients apply to the sum encoder only (the concat encoder has no weights)')
    try:
        c = [float(p) for p in text.split(',') if p.strip()]
    except ValueError:
        raise TrainError(f'--coefficients takes k = {k} comma-separated non-zero numbers, got {text!r}')
    if len(c) != k or any(x == 0 or not math.isfinite(x) for x in c):
        raise TrainError(f'--coefficients takes k = {k} comma-separated finite non-zero numbers, got {text!r}')
    # Stored as the float32 values the serving encoder and decoder will use.
    return [float(np.float32(x)) for x in c]


def train_parity(ds: Dataset, deployed_path: str, k: int, encoder: str, arch: Optional[Dict[str, Any]],
                 out: str, *, epochs: int, batch: Optional[int], lr: float, weight_decay: float, seed: int,
                 heldout: int, train_limit: Optional[int], ce_weight: float, schedule: str,
                 progress: bool, command: str, init: str = 'random', kd_weight: float = 0.0,
                 kd_temp: float = 1.0, coefficients: Optional[List[float]] = None, augment_inputs: bool = False,
                 allow_costlier: bool = False, tile_weight: float = 0.0,
                 output_scale: Optional[float] = None) -> Dict[str, Any]:
    if k < 2 or k > 8:
        raise TrainError(f'k must be between 2 and 8, got {k}')
    if encoder not in encoders.ENCODERS:
        raise TrainError(f"unknown encoder '{encoder}': use one of {', '.join(encoders.ENCODERS)}")
    if encoder == 'concat' and len(ds.input_shape) != 3:
        raise TrainError(f'the concat encoder needs image inputs [C, H, W]; dataset {ds.name} has inputs '
                         f'{ds.input_shape}: use --encoder sum')
    if schedule not in ('none', 'cosine'):
        raise TrainError(f"unknown --schedule '{schedule}': use none or cosine")
    if init not in ('random', 'deployed'):
        raise TrainError(f"unknown --init '{init}': use random or deployed")
    if kd_temp <= 0:
        raise TrainError(f'--kd-temp must be positive, got {kd_temp}')
    if augment_inputs and len(ds.input_shape) != 3:
        raise TrainError('--augment needs image inputs [C, H, W]')
    if coefficients is not None and (encoder != 'sum' or len(coefficients) != k):
        raise TrainError(f'--coefficients need the sum encoder and k = {k} values')
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    deployed, dcard = load_deployed(deployed_path, ds)
    classes = len(ds.classes)
    deployed_macs = cost.count_macs(deployed_path)['macs']
    arch = budget.resolve_parity_arch(arch, dcard['architecture'], k, encoder, ds.input_shape, classes, deployed_macs)
    pre = budget.check_budget(arch, ds.input_shape, classes, deployed_macs, allow_costlier)
    if tile_weight > 0 and arch['kind'] != 'split':
        raise TrainError('--tile-weight supervises the tiles of a split parity model: use it with --model split')
    name = budget.describe(arch)
    log(f'parity {name} {encoder} k={k}: {pre["parity_macs"]} multiply-adds per query, '
        f'{pre["parity_flops_ratio"]:.3f}x the deployed model' + ('' if pre['within_budget'] else ' (OVER BUDGET)'))
    batch = batch or (64 if k == 2 else 32)
    w = None if coefficients is None else np.asarray(coefficients, dtype=np.float32)

    def enc(members: np.ndarray) -> np.ndarray:
        return encoders.encode_sum(members, coefficients) if w is not None else encoders.encode(encoder, members)

    def combine(member_logits: np.ndarray) -> np.ndarray:  # [G, k, C] -> the decoder's target sum_j w_j F(X_j)
        return member_logits.sum(1) if w is None else (member_logits * w[None, :, None]).sum(1)

    log(f'caching deployed-model logits for {len(ds.train.labels) + len(ds.test.labels)} inputs')
    logits_train = predict(deployed, ds.train.inputs)
    logits_test = predict(deployed, ds.test.inputs)
    tr, ho = split_indices(len(ds.train.labels), heldout, train_limit)
    if len(tr) < k:
        raise TrainError(f'only {len(tr)} training inputs for groups of k = {k}')
    ho_groups = np.random.default_rng(SPLIT_SEED + 1).permutation(ho)
    ho_groups = ho_groups[:(len(ho_groups) // k) * k].reshape(-1, k)
    p_ho = enc(ds.train.inputs[ho_groups]) if len(ho_groups) else None

    net = models.build(arch, ds.input_shape, classes)
    copied: List[str] = []
    if init == 'deployed':
        # Warm start: the deployed model is its own (poor) parity model, a better start than noise;
        # in a tiled parity model it is the shared per-tile network; a split model takes the
        # deployed weights whose shapes it shares (a cnn's convolutions).
        if arch['kind'] == 'split':
            copied = models.copy_matching(net, deployed)
            if not copied:
                raise TrainError(f'--init deployed: the split network {name} shares no weight shape with the deployed '
                                 f'model; use --init random')
        elif (arch['inner'] if arch['kind'] == 'tiled' else arch) != dcard['architecture']:
            raise TrainError('--init deployed needs the parity architecture to equal the deployed one; '
                             'drop --hidden/--channels or use --init random')
        else:
            (net.inner if arch['kind'] == 'tiled' else net).load_state_dict(deployed.state_dict())
    # A network whose last layer starts random trains against the deployed logits' scale.
    last_copied = bool(copied) and [n for n, _ in net.named_parameters()][-1] in copied
    if output_scale is not None:
        scale = output_scale
    elif init == 'random' or (arch['kind'] == 'split' and not last_copied):
        scale = float(np.std(logits_train))
    else:
        scale = 1.0
    model = models.OutputScale(net, scale)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    groups_per_epoch = len(tr) // k
    steps = math.ceil(groups_per_epoch / batch)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps)
             if schedule == 'cosine' else None)
    bar = Progress(epochs * steps, f'parity {name} {encoder} k={k}', progress)
    losses: List[float] = []
    accs: List[float] = []
    best: Tuple[float, int, Dict[str, torch.Tensor]] = (-1.0, -1, {})
    wt = None if w is None else torch.from_numpy(w)
    t0 = time.monotonic()
    for epoch in range(epochs):
        if augment_inputs:
            # Augmented members, and the deployed model's logits for exactly those members.
            x_epoch = ds.train.inputs.copy()
            x_epoch[tr] = augment(ds.train.inputs[tr], rng)
            l_epoch = logits_train.copy()
            l_epoch[tr] = predict(deployed, x_epoch[tr])
        else:
            x_epoch, l_epoch = ds.train.inputs, logits_train
        model.train()
        groups = rng.permutation(tr)[:groups_per_epoch * k].reshape(-1, k)
        parity_in = torch.from_numpy(enc(x_epoch[groups]))
        member_logits = torch.from_numpy(l_epoch[groups])  # [G, k, C]
        member_labels = torch.from_numpy(ds.train.labels[groups])  # [G, k]
        target = torch.from_numpy(combine(l_epoch[groups]))
        total = 0.0
        for s in range(steps):
            sl = slice(s * batch, (s + 1) * batch)
            if tile_weight > 0:
                # A split model's output is the sum of its per-tile outputs; each tile also learns
                # its own member's deployed logits (training only: serving sees the sum).
                per_tile = net.tile_outputs(parity_in[sl]) * model.scale  # [k, B, C]
                outp = per_tile.sum(0)
                loss = nnf.mse_loss(outp, target[sl]) + tile_weight * nnf.mse_loss(
                    per_tile, member_logits[sl].transpose(0, 1))
            else:
                outp = model(parity_in[sl])
                loss = nnf.mse_loss(outp, target[sl])
            if ce_weight > 0 or kd_weight > 0:
                # Reconstruction of member i (the serving decoder, differentiable):
                # (Fp(P) - sum_{j != i} w_j F(X_j)) / w_i = (Fp(P) - (target - w_i F(X_i))) / w_i
                ml = member_logits[sl]
                if wt is None:
                    rec = outp[:, None, :] - (target[sl][:, None, :] - ml)
                else:
                    rec = (outp[:, None, :] - (target[sl][:, None, :] - wt[None, :, None] * ml)) / wt[None, :, None]
                flat = rec.reshape(-1, rec.shape[-1])
                if ce_weight > 0:
                    loss = loss + ce_weight * nnf.cross_entropy(flat, member_labels[sl].reshape(-1))
                if kd_weight > 0:
                    teacher = nnf.log_softmax(ml.reshape(-1, ml.shape[-1]) / kd_temp, dim=1)
                    student = nnf.log_softmax(flat / kd_temp, dim=1)
                    kl = nnf.kl_div(student, teacher, reduction='batchmean', log_target=True)
                    loss = loss + kd_weight * kd_temp * kd_temp * kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += loss.item() * outp.shape[0]
            bar.update(1)
        losses.append(total / groups_per_epoch)
        acc = (degraded_accuracy(predict(model, p_ho), logits_train[ho_groups], ds.train.labels[ho_groups], coefficients)
               if p_ho is not None else 0.0)
        accs.append(acc)
        bar.update(0, epoch=epoch + 1, loss=f'{losses[-1]:.4f}', heldout=f'{100 * acc:.2f}%')
        if not progress:  # one line per epoch for logs
            log(f'epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}, held-out degraded-mode accuracy '
                f'{100 * acc:.2f}%, {time.monotonic() - t0:.0f} s')
        if acc > best[0]:
            best = (acc, epoch, copy.deepcopy(model.state_dict()))
    bar.close()
    seconds = round(time.monotonic() - t0, 1)
    model.load_state_dict(best[2])
    model = model.folded()
    # Test figures (Python side; `parm eval` re-measures through the serving path).
    tg = np.arange((len(ds.test.labels) // k) * k).reshape(-1, k)
    p_test = enc(ds.test.inputs[tg])
    deg = degraded_accuracy(predict(model, p_test), logits_test[tg], ds.test.labels[tg], coefficients)
    floor = degraded_accuracy(predict(deployed, p_test), logits_test[tg], ds.test.labels[tg], coefficients)
    dep_acc = float((logits_test.argmax(1) == ds.test.labels).mean())
    models.export_onnx(model, ds.input_shape, out)
    loss_text = 'MSE to the ' + ('summed' if w is None else 'coefficient-weighted sum of the') + ' deployed logits'
    if ce_weight > 0:
        loss_text += f' + {ce_weight} x cross-entropy of the reconstructions'
    if kd_weight > 0:
        loss_text += f' + {kd_weight} x T^2 x KL(deployed softmax || reconstruction softmax) at T = {kd_temp}'
    if tile_weight > 0:
        loss_text += f' + {tile_weight} x MSE of each tile\'s output to its member\'s deployed logits'
    card = {
        'role': 'parity', 'name': os.path.splitext(os.path.basename(out))[0],
        'dataset': _dataset_info(ds, tr, ho), 'task': 'parity model for ' + ('image classification' if len(ds.input_shape) == 3 else 'classification'),
        **_io(ds), 'k': k, 'encoder': encoder, **({'coefficients': coefficients} if coefficients is not None else {}),
        'deployed': os.path.relpath(os.path.abspath(deployed_path), os.path.dirname(os.path.abspath(out))),
        'architecture': arch, 'parameters': models.param_count(model),
        **budget.card_cost(deployed_path, out),
        'accuracy': {'deployed_test': dep_acc, 'degraded_test': deg, 'floor_self_parity_test': floor,
                     'heldout_degraded_best': best[0],
                     'method': 'test images in groups of k consecutive; every member reconstructed by the subtraction decoder; argmax vs true label'},
        'training': {'command': command, 'seed': seed, 'epochs': epochs, 'best_epoch': best[1] + 1,
                     'batch_groups': batch, 'optimizer': 'Adam', 'lr': lr, 'weight_decay': weight_decay,
                     'schedule': schedule, 'init': init, **({'init_copied': copied} if copied else {}),
                     'output_scale': scale, 'loss': loss_text, 'augment': augment_inputs,
                     'seconds': seconds, 'threads': torch.get_num_threads()},
        'curve': os.path.basename(curve_path(out)), 'versions': versions(),
    }
    _write_card(card_path(out), card)
    write_curve(curve_path(out), f'parity {name} {encoder} k={k} on {ds.name}: degraded {100 * deg:.2f}% '
                f'(deployed {100 * dep_acc:.2f}%)', losses, accs, 'held-out degraded-mode accuracy', best[1])
    log(f'parity {name} {encoder} k={k}: degraded-mode accuracy {100 * deg:.2f}% (deployed {100 * dep_acc:.2f}%, '
        f'self-parity floor {100 * floor:.2f}%, best held-out epoch {best[1] + 1}, flops ratio '
        f'{card["parity_flops_ratio"]:.3f}); wrote {out}')
    return card
