"""Command line of the trainer: `python3 -m training {deployed,parity,bundle,cost,golden,manifest} ...`.

Every user error is one line on stderr (`parm train: ...`, exit status 2), never a traceback;
set PARM_DEBUG=1 to see the traceback of an unexpected failure.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import List, NoReturn, Optional

from .errors import TrainError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise TrainError(f'{message} (see --help)')


def _parser() -> argparse.ArgumentParser:
    from .data import DEFAULT_DATASET_DIR
    p = _Parser(prog='parm train', description='Train deployed models and parity models (parm).')
    sub = p.add_subparsers(dest='cmd', metavar='{deployed,parity,bundle,cost,golden,manifest}', parser_class=_Parser)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument('--dataset', default=DEFAULT_DATASET_DIR,
                        help='dataset directory, IDX or .npy layout (default: %(default)s)')
        sp.add_argument('--dataset-name', default=None, help='name recorded in the model card (default: directory name)')
        sp.add_argument('--out', required=True, help='output ONNX path; card (.json) and curve (.svg) go next to it')
        sp.add_argument('--epochs', type=int, default=None)
        sp.add_argument('--lr', type=float, default=1e-3)
        sp.add_argument('--weight-decay', type=float, default=None)
        sp.add_argument('--seed', type=int, default=1)
        sp.add_argument('--heldout', type=int, default=5000, help='training inputs held out for checkpoint selection')
        sp.add_argument('--train-limit', type=int, default=None, help='use only this many training inputs (smoke tests)')
        sp.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
        sp.add_argument('--no-progress', action='store_true', help='no progress bars')

    d = sub.add_parser('deployed', help='train a deployed classifier')
    common(d)
    d.add_argument('--model', required=True, help='mlp or cnn')
    d.add_argument('--hidden', default=None, help='hidden layer widths, e.g. 512,256')
    d.add_argument('--channels', default=None, help='cnn conv channels, e.g. 16,32')
    d.add_argument('--batch', type=int, default=128)

    q = sub.add_parser('parity', help='train a parity model for a deployed model')
    common(q)
    q.add_argument('--deployed', required=True, help='deployed ONNX model (its card must sit next to it)')
    q.add_argument('--k', type=int, required=True, help='coding group size, 2..8')
    q.add_argument('--encoder', default='sum', help='sum or concat')
    q.add_argument('--model', default=None,
                   help='parity architecture: mlp, cnn, split (concat only: one shared network run on each tile '
                        'at tile resolution, sized to the budget, outputs summed) or tiled (concat only, over '
                        'budget: the deployed network on each tile resized to full size) (default: the deployed one)')
    q.add_argument('--inner', default=None, help='split: the per-tile network, mlp or cnn (default: the deployed kind)')
    q.add_argument('--hidden', default=None, help='parity hidden widths (default: the deployed ones; split: sized to the budget)')
    q.add_argument('--channels', default=None, help='parity cnn channels (default: the deployed ones; split: sized to the budget)')
    q.add_argument('--batch', type=int, default=None, help='groups per minibatch (default 64 for k=2, else 32)')
    q.add_argument('--ce-weight', type=float, default=0.0,
                   help='weight of a cross-entropy term on the decoded reconstructions (0: plain MSE)')
    q.add_argument('--schedule', default='none', help='learning-rate schedule: none or cosine')
    q.add_argument('--init', default='random', help='initial weights: random, or deployed (warm start from the deployed model)')
    q.add_argument('--kd-weight', type=float, default=0.0,
                   help='weight of a distillation term: KL between the deployed model\'s softmax and the decoded '
                        'reconstruction\'s, per member (0: none)')
    q.add_argument('--kd-temp', type=float, default=1.0, help='softmax temperature of the distillation term')
    q.add_argument('--coefficients', default=None,
                   help='sum encoder weights w_1..w_k (comma-separated, non-zero): P = sum w_i X_i, target '
                        'sum w_i F(X_i); written to the manifest for the engine (default: all ones)')
    q.add_argument('--augment', action='store_true',
                   help='random shifts (up to 2 pixels) and horizontal flips of the group members each epoch, '
                        'with the deployed model\'s logits recomputed for them')
    q.add_argument('--tile-weight', type=float, default=0.0,
                   help='split models: weight of an MSE term between each tile\'s output and its own member\'s '
                        'deployed logits (training only; 0: none)')
    q.add_argument('--output-scale', type=float, default=None,
                   help='train the network\'s output times this constant, folded into its last layer on export '
                        '(default: the deployed logits\' standard deviation when the last layer starts random, else 1)')
    q.add_argument('--allow-costlier', action='store_true',
                   help='train an architecture over the cost rule (more multiply-adds than the deployed model) '
                        'as a non-ParM baseline; its card says "within_budget": false')

    c = sub.add_parser('cost', help='multiply-adds (Gemm/MatMul/Conv, batch 1) of ONNX models, as JSON')
    c.add_argument('models', nargs='*', help='ONNX model paths')
    c.add_argument('--write-card', action='store_true',
                   help='measure the cost rule (parity models: against the deployed model their card names) and '
                        'write it into each model\'s card')

    g = sub.add_parser('golden', help='write the golden encoder fixtures (test/fixtures/golden)')
    g.add_argument('--out', default='test/fixtures/golden')

    b = sub.add_parser('bundle', help='retrain every bundled Fashion-MNIST model from scratch, then the manifest')
    b.add_argument('--models', default='models')
    b.add_argument('--only', default=None, help='only outputs matching this glob, e.g. "*/mlp/*"')
    b.add_argument('--dry-run', action='store_true', help='print the commands only')
    b.add_argument('--jobs', type=int, default=1, help='models trained at the same time, one thread each (default 1)')

    m = sub.add_parser('manifest', help='write models/manifest.json from the model cards in a folder')
    m.add_argument('--models', default='models')
    m.add_argument('--default', default='fashion-mnist-mlp')
    return p


def _run(argv: List[str]) -> None:
    args = _parser().parse_args(argv)
    if args.cmd is None:
        raise TrainError('name a job: deployed, parity, bundle, cost, golden or manifest (see --help)')
    if args.cmd == 'cost':
        if args.write_card:
            from .budget import write_card_costs
            write_card_costs(args.models)
        else:
            from .cost import main_cost
            main_cost(args.models)
        return
    if args.cmd == 'golden':
        from .golden import write_golden
        write_golden(args.out)
        return
    if args.cmd == 'bundle':
        from .bundle import run_bundle
        run_bundle(args.models, args.only, args.dry_run, args.jobs)
        return
    if args.cmd == 'manifest':
        from .manifest import write_manifest
        write_manifest(args.models, args.default)
        return
    os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
    # Cheap argument checks before importing torch (seconds) so bad input fails fast.
    if args.cmd == 'parity':
        from .encoders import ENCODERS
        if args.k < 2 or args.k > 8:
            raise TrainError(f'--k must be between 2 and 8, got {args.k}')
        if args.encoder not in ENCODERS:
            raise TrainError(f"unknown encoder '{args.encoder}': use --encoder sum or --encoder concat")
        if not os.path.isfile(args.deployed):
            raise TrainError(f'deployed model {args.deployed} does not exist; train one first with parm train deployed')
    if args.threads < 1:
        raise TrainError('--threads must be at least 1')
    for flag in ('epochs', 'train_limit', 'batch'):
        v = getattr(args, flag, None)
        if v is not None and v < 1:
            raise TrainError(f'--{flag.replace("_", "-")} must be at least 1, got {v}')
    from .data import load_dataset
    ds = load_dataset(args.dataset, args.dataset_name)
    import torch
    torch.set_num_threads(args.threads)
    from . import models, train
    command = 'parm train ' + ' '.join(shlex.quote(a) for a in argv)
    if args.cmd == 'deployed':
        if args.model not in models.ARCHS:
            raise TrainError(f"unknown deployed model '{args.model}': use one of {', '.join(models.ARCHS)}")
        arch = models.make_arch(args.model, args.hidden, args.channels)
        train.train_deployed(ds, arch, args.out, epochs=args.epochs or 20, batch=args.batch, lr=args.lr,
                             weight_decay=args.weight_decay if args.weight_decay is not None else 0.0,
                             seed=args.seed, heldout=args.heldout, train_limit=args.train_limit,
                             progress=not args.no_progress, command=command)
    else:
        arch = models.make_arch(args.model, args.hidden, args.channels, args.inner) if args.model else None
        if arch is None and (args.hidden or args.channels or args.inner):
            raise TrainError('--hidden/--channels/--inner for a parity model need --model mlp, cnn or split')
        coefficients = train.parse_coefficients(args.coefficients, args.k, args.encoder)
        train.train_parity(ds, args.deployed, args.k, args.encoder, arch, args.out,
                           epochs=args.epochs or 100, batch=args.batch, lr=args.lr,
                           weight_decay=args.weight_decay if args.weight_decay is not None else 1e-5,
                           seed=args.seed, heldout=args.heldout, train_limit=args.train_limit,
                           ce_weight=args.ce_weight, schedule=args.schedule,
                           progress=not args.no_progress, command=command, init=args.init,
                           kd_weight=args.kd_weight, kd_temp=args.kd_temp, coefficients=coefficients,
                           augment_inputs=args.augment, allow_costlier=args.allow_costlier,
                           tile_weight=args.tile_weight, output_scale=args.output_scale)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _run(argv)
        return 0
    except TrainError as e:
        sys.stderr.write(f'parm train: {e}\n')
        return 2
    except KeyboardInterrupt:
        sys.stderr.write('parm train: interrupted\n')
        return 130
    except ImportError as e:
        sys.stderr.write(f'parm train: {e}; install python3-torch, python3-onnx and python3-numpy (apt) '
                         f'and run with Debian\'s /usr/bin/python3\n')
        return 2
    except Exception as e:  # one line, not a traceback; PARM_DEBUG=1 shows it
        if os.environ.get('PARM_DEBUG'):
            raise
        sys.stderr.write(f'parm train: unexpected {type(e).__name__}: {e} (rerun with PARM_DEBUG=1 for a traceback)\n')
        return 1
