"""parm's parity-model trainer: deployed models, parity models, ONNX export, model cards.

Run from the repository root: `python3 -m training --help` (or `parm train`, which runs it).
"""
