"""Safe loading of mmengine runner checkpoints.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it unpickles tensors and plain
containers only. An mmengine 0.10 runner checkpoint also holds the message hub's
``HistoryBuffer`` objects (which keep numpy arrays) and numpy scalars, so ``--resume`` and
``tools/test.py`` fail on it. Rather than switching safe loading off, the few types mmengine
writes are allow-listed here.

``HistoryBuffer.__getstate__`` also stores its statistics methods, which pickle writes as
``getattr(HistoryBuffer, 'mean')``. Allowing the builtin ``getattr`` would let a checkpoint reach
any attribute of any allowed object, so a restricted stand-in is registered under that name: it
resolves only statistics methods of ``HistoryBuffer`` and refuses everything else.
"""
import pickle
from typing import List, Tuple

import numpy as np
import torch

__all__ = ['allow_mmengine_checkpoints', 'mmengine_checkpoint_globals']


def _numpy_multiarray():
    # numpy 2 moved numpy.core to numpy._core; pickles name whichever wrote them.
    core = getattr(np, '_core', None)
    return core.multiarray if core is not None and hasattr(core, 'multiarray') \
        else np.core.multiarray


def _history_buffer_getattr(obj: object, name: str) -> object:
    """``getattr`` restricted to the statistics methods of mmengine's HistoryBuffer."""
    from mmengine.logging import HistoryBuffer

    # The four defaults are put into the class dict only when a first instance is created.
    allowed = {'min', 'max', 'current', 'mean'} | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) in a checkpoint: only the statistics methods of '
        'mmengine\'s HistoryBuffer are allowed under safe loading')


def mmengine_checkpoint_globals() -> List[Tuple[object, str]]:
    """(object, pickled name) pairs of the non-tensor types in mmengine runner checkpoints."""
    from mmengine.logging import HistoryBuffer

    multiarray = _numpy_multiarray()
    pairs: List[Tuple[object, str]] = [
        (HistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
        (_history_buffer_getattr, 'builtins.getattr'),
        (np.ndarray, 'numpy.ndarray'),
        (np.dtype, 'numpy.dtype'),
    ]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        pairs.append((multiarray._reconstruct, f'{module}._reconstruct'))
        pairs.append((multiarray.scalar, f'{module}.scalar'))
    # numpy >= 1.25 pickles dtypes through their classes (numpy.dtypes.Float64DType, ...).
    if hasattr(np, 'dtypes'):
        for code in '?bBhHiIlLqQefdgFDGO':
            dtype_cls = type(np.dtype(code))
            pairs.append((dtype_cls, f'numpy.dtypes.{dtype_cls.__name__}'))
    return pairs


def allow_mmengine_checkpoints() -> None:
    """Allow-list mmengine's checkpoint types for ``torch.load(..., weights_only=True)``.

    Idempotent and cheap; a no-op on torch versions without ``add_safe_globals``.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return
    add_safe_globals(mmengine_checkpoint_globals())
