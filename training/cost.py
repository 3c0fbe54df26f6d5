"""The cost rule's counter: multiply-adds of Gemm, MatMul and Conv nodes in an ONNX graph at batch 1.

A parity model may cost no more than the deployed model it protects (docs/training.md, "The cost
rule"): parity_flops_ratio = MACs(parity) / MACs(deployed) <= 1.0. This module is the one place
that counts; the trainer (model cards, the refusal of over-budget architectures) and `parm eval`
(through `python3 -m training cost`) both call it.

Counting: every graph input's first dimension is set to 1; shape computations (Shape, Slice,
Concat, Gather, ... on the small integer tensors that exporters build sizes from) are folded into
constants, so that onnx.shape_inference can follow e.g. a Resize whose sizes come from Shape; then
shapes are inferred and per node:
  Gemm    A [M, K] (transposed if transA), B [K, N] (transposed if transB): M * K * N
  MatMul  A [..., M, K] @ B [..., K, N], batch dimensions broadcast: prod(batch) * M * K * N
  Conv    output Y [N, Cout, *spatial], weight W [Cout, Cin / group, *kernel]: prod(Y) * prod(W[1:])
Bias adds, activations, pooling and element-wise ops are not counted (they are O(outputs), not
O(outputs x fan-in)). A node of those three types whose shapes cannot be inferred, or a node of
another type that does fan-in arithmetic (ConvTranspose, Einsum, quantised or recurrent ops,
control flow) is an error: an unknown cost is never reported as zero.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Optional, Sequence

from .errors import TrainError

COUNTED = ('Gemm', 'MatMul', 'Conv')
UNCOUNTED_HEAVY = ('ConvTranspose', 'Einsum', 'ConvInteger', 'MatMulInteger', 'QLinearConv', 'QLinearMatMul',
                   'LSTM', 'GRU', 'RNN', 'Attention', 'If', 'Loop', 'Scan')
BUDGET = 1.0  # parity MACs / deployed MACs allowed by the cost rule


def _load(model: Any):
    import onnx
    if isinstance(model, (str, os.PathLike)):
        try:
            return onnx.load(os.fspath(model))
        except Exception as e:  # onnx raises several types for unreadable files
            raise TrainError(f'cannot read ONNX model {model}: {e}')
    return model


def _batch_one(m) -> None:
    inits = {i.name for i in m.graph.initializer}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        dims = vi.type.tensor_type.shape.dim
        if len(dims) > 0:
            dims[0].Clear()
            dims[0].dim_value = 1


_FOLDABLE = ('Shape', 'Slice', 'Concat', 'Gather', 'Unsqueeze', 'Squeeze', 'Cast', 'Add', 'Sub', 'Mul', 'Div',
             'Floor', 'Ceil', 'Identity', 'Reshape', 'Transpose', 'ConstantOfShape')


def _fold_op(node, vals: List[Any], in_shapes: List[Optional[List[Optional[int]]]]):
    """numpy value of one shape-computation node, or None if it cannot be folded."""
    import numpy as np
    from onnx import helper, mapping, numpy_helper
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    op = node.op_type
    if op == 'Shape':
        s = in_shapes[0]
        if s is None or any(d is None for d in s):
            return None
        return np.array(s[attrs.get('start', 0):attrs.get('end', len(s))], dtype=np.int64)
    if any(v is None for v in vals) or not vals:
        return None
    if op == 'Slice':
        x, starts, ends = vals[0], vals[1], vals[2]
        axes = vals[3] if len(vals) > 3 and vals[3] is not None else range(len(starts))
        steps = vals[4] if len(vals) > 4 and vals[4] is not None else [1] * len(starts)
        sl = [slice(None)] * x.ndim
        for a, s, e, st in zip(axes, starts, ends, steps):
            sl[int(a)] = slice(int(s), int(e), int(st))
        return x[tuple(sl)]
    if op == 'Concat':
        return np.concatenate(vals, axis=attrs['axis'])
    if op == 'Gather':
        return np.take(vals[0], vals[1], axis=attrs.get('axis', 0))
    if op == 'Unsqueeze':
        axes = attrs.get('axes', vals[1] if len(vals) > 1 else None)
        out = vals[0]
        for a in sorted(int(a) % (out.ndim + len(axes)) for a in axes):
            out = np.expand_dims(out, a)
        return out
    if op == 'Squeeze':
        axes = attrs.get('axes', vals[1] if len(vals) > 1 else None)
        return np.squeeze(vals[0], axis=None if axes is None else tuple(int(a) for a in axes))
    if op == 'Cast':
        return vals[0].astype(mapping.TENSOR_TYPE_TO_NP_TYPE[attrs['to']])
    if op in ('Add', 'Sub', 'Mul'):
        return {'Add': np.add, 'Sub': np.subtract, 'Mul': np.multiply}[op](vals[0], vals[1])
    if op == 'Div':
        a, b = vals
        return a // b if np.issubdtype(a.dtype, np.integer) else a / b
    if op in ('Floor', 'Ceil'):
        return (np.floor if op == 'Floor' else np.ceil)(vals[0])
    if op == 'Identity':
        return vals[0]
    if op == 'Reshape':
        return vals[0].reshape([int(d) if d != 0 else vals[0].shape[i] for i, d in enumerate(vals[1])])
    if op == 'Transpose':
        return np.transpose(vals[0], attrs.get('perm'))
    if op == 'ConstantOfShape':
        shape = [int(d) for d in vals[0]]
        if math.prod(shape) > 64:
            return None
        value = numpy_helper.to_array(attrs['value']) if 'value' in attrs else np.zeros(1, np.float32)
        return np.full(shape, value.reshape(-1)[0], dtype=value.dtype)
    return None


def _fold_shape_computations(m) -> Any:
    """Replaces shape-computation nodes whose inputs are known by Constant nodes, to a fixpoint."""
    from onnx import numpy_helper, helper, shape_inference
    for _ in range(16):
        try:
            m = shape_inference.infer_shapes(m, data_prop=True)
        except Exception:
            return m
        shapes = _shapes(m)
        consts: Dict[str, Any] = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
        for n in m.graph.node:
            if n.op_type == 'Constant':
                for a in n.attribute:
                    if a.name == 'value':
                        consts[n.output[0]] = numpy_helper.to_array(a.t)
        changed = False
        nodes = list(m.graph.node)
        for idx, n in enumerate(nodes):
            if n.op_type not in _FOLDABLE or n.output[0] in consts:
                continue
            vals = [consts.get(i) if i else None for i in n.input]
            if n.op_type != 'Shape' and any(v is not None and v.size > 64 for v in vals):
                continue  # only small shape tensors, never real data
            try:
                v = _fold_op(n, vals, [shapes.get(i) for i in n.input])
            except Exception:
                v = None
            if v is None:
                continue
            import numpy as np
            c = helper.make_node('Constant', [], [n.output[0]], name=(n.name or n.output[0]) + '_folded',
                                 value=numpy_helper.from_array(np.asarray(v), n.output[0]))
            m.graph.node.remove(n)
            m.graph.node.insert(idx, c)
            consts[n.output[0]] = np.asarray(v)
            changed = True
        if not changed:
            return m
    return m


def _shapes(m) -> Dict[str, List[Optional[int]]]:
    out: Dict[str, List[Optional[int]]] = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        t = vi.type.tensor_type
        if t.HasField('shape'):
            out[vi.name] = [d.dim_value if d.HasField('dim_value') else None for d in t.shape.dim]
    for init in m.graph.initializer:
        out[init.name] = list(init.dims)
    return out


def _attr(node, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def _known(shape: Optional[Sequence[Optional[int]]], what: str, node, where: str) -> List[int]:
    if shape is None or any(d is None for d in shape):
        raise TrainError(f'{where}: cannot infer the shape of {what} of {node.op_type} node '
                         f'{node.name or "(unnamed)"} ({shape}); its multiply-adds cannot be counted')
    return [int(d) for d in shape]


def count_macs(model: Any, where: str = 'model') -> Dict[str, Any]:
    """Multiply-adds at batch 1: {'macs': int, 'by_op': {op_type: int}, 'nodes': int}.

    `model` is a path or an onnx.ModelProto (not modified)."""
    import onnx
    from onnx import shape_inference
    m = onnx.ModelProto()
    m.CopyFrom(_load(model))
    if isinstance(model, (str, os.PathLike)):
        where = os.fspath(model)
    _batch_one(m)
    m = _fold_shape_computations(m)
    try:
        m = shape_inference.infer_shapes(m, data_prop=True)
    except Exception as e:
        raise TrainError(f'{where}: ONNX shape inference failed ({e}); cannot count its multiply-adds')
    shapes = _shapes(m)
    by_op = {op: 0 for op in COUNTED}
    counted = 0
    for node in m.graph.node:
        if node.op_type in UNCOUNTED_HEAVY:
            raise TrainError(f'{where}: node {node.name or "(unnamed)"} is a {node.op_type}, which the cost counter '
                             f'does not count (it counts {", ".join(COUNTED)}); its cost would be missed')
        if node.op_type not in COUNTED:
            continue
        counted += 1
        if node.op_type == 'Gemm':
            a = _known(shapes.get(node.input[0]), 'input A', node, where)
            b = _known(shapes.get(node.input[1]), 'input B', node, where)
            mm, kk = (a[1], a[0]) if _attr(node, 'transA', 0) else (a[0], a[1])
            nn = b[0] if _attr(node, 'transB', 0) else b[1]
            macs = mm * kk * nn
        elif node.op_type == 'MatMul':
            a = _known(shapes.get(node.input[0]), 'input A', node, where)
            b = _known(shapes.get(node.input[1]), 'input B', node, where)
            a2 = [1] + a if len(a) == 1 else a
            b2 = b + [1] if len(b) == 1 else b
            batch_a, batch_b = a2[:-2], b2[:-2]
            n = max(len(batch_a), len(batch_b))
            batch_a = [1] * (n - len(batch_a)) + batch_a
            batch_b = [1] * (n - len(batch_b)) + batch_b
            batch = math.prod(max(x, y) for x, y in zip(batch_a, batch_b))
            macs = batch * a2[-2] * a2[-1] * b2[-1]
        else:  # Conv
            y = _known(shapes.get(node.output[0]), 'output Y', node, where)
            w = _known(shapes.get(node.input[1]), 'weight W', node, where)
            macs = math.prod(y) * math.prod(w[1:])
        by_op[node.op_type] += macs
    return {'macs': sum(by_op.values()), 'by_op': by_op, 'nodes': counted}


def budget(deployed: Any, parity: Any) -> Dict[str, Any]:
    """The cost rule for one parity model: MACs of both, their ratio and whether it is within budget."""
    d = count_macs(deployed, 'deployed model')
    p = count_macs(parity, 'parity model')
    if d['macs'] <= 0:
        raise TrainError(f'{deployed}: the deployed model has no Gemm/MatMul/Conv multiply-adds; '
                         f'the cost rule needs a positive deployed cost')
    ratio = p['macs'] / d['macs']
    return {'deployed_macs': d['macs'], 'parity_macs': p['macs'], 'parity_flops_ratio': ratio,
            'within_budget': ratio <= BUDGET}


def main_cost(paths: Sequence[str]) -> None:
    """`python3 -m training cost MODEL.onnx...`: one JSON object {path: count_macs(path)} on stdout."""
    if not paths:
        raise TrainError('cost needs one or more ONNX model paths')
    out = {}
    for p in paths:
        if not os.path.isfile(p):
            raise TrainError(f'model {p} does not exist')
        out[p] = count_macs(p)
    print(json.dumps(out))
