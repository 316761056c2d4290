"""LGM-CL on DGL: local-global multimodal contrastive learning for molecular properties."""

__version__ = "0.1.0"

import os as _os

_os.environ.setdefault("DGLBACKEND", "pytorch")  # dgl otherwise prints a notice on every import
