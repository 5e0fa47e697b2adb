"""Checkpoint files: safe loading, one clear error per broken file, atomic writes.

Reading (:func:`read_checkpoint`, :func:`state_dict_of`, :func:`check_finite`): every loader of
the project (converters, the backbones' ``Pretrained`` init, the test tool, ``--resume``)
goes through these, so an empty, truncated, foreign, code-carrying or NaN-holding file gives one
:class:`CheckpointError` that names the file and the problem, never a traceback from inside
``torch.load`` and never a silently half-loaded model. Writing (:func:`atomic_write`): a file
appears under its name only once it is complete.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it unpickles tensors and plain
containers only. An mmengine 0.10 runner checkpoint also holds the message hub's
``HistoryBuffer`` objects (which keep numpy arrays) and numpy scalars, which mmengine's own
loader (resume, ``load_from``, ``init_detector`` / ``init_model``) then refuses. Rather than
switching safe loading off, the few types mmengine writes are allow-listed - never on import:
:func:`read_checkpoint` allows them for its own loads only, and a process that lets mmengine
load runner checkpoints opts in once with :func:`allow_runner_checkpoints` (the repository's
train/test tools, :func:`mmvitplug.utils.launch.build_runner` and the runner hooks of
:mod:`mmvitplug.engine` do), or around the loading code with
:func:`runner_checkpoints_allowed`::

    from mmvitplug.utils import allow_runner_checkpoints
    allow_runner_checkpoints()
    model = init_detector(config, 'work_dirs/x/iter_500.pth')

``HistoryBuffer.__getstate__`` also stores its statistics methods, which pickle writes as
``getattr(HistoryBuffer, 'mean')``. Allowing the builtin ``getattr`` would let a checkpoint reach
any attribute of any allowed object, so a restricted stand-in is registered under that name: it
resolves only statistics methods of ``HistoryBuffer`` and refuses everything else.
"""
import argparse
import contextlib
import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
import torch

__all__ = [
    'CheckpointError', 'LoadReport', 'allow_runner_checkpoints', 'atomic_write',
    'check_finite', 'latest_loadable_checkpoint', 'match_state_dict', 'read_checkpoint',
    'read_state_dict', 'runner_checkpoint_globals', 'runner_checkpoints_allowed',
    'state_dict_of'
]

_ZIP_MAGIC = b'PK\x03\x04'  # torch.save's default (zip) format
_PICKLE_MAGIC = b'\x80'  # the legacy format: a pickle, protocol 2 or later


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


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


def runner_checkpoint_globals() -> List[Tuple[object, str]]:
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


def allow_runner_checkpoints() -> None:
    """Let ``torch.load(..., weights_only=True)`` rebuild the types of mmengine runner
    checkpoints, from now on in this process (torch's allow-list is process-wide).

    An explicit opt-in for programs that let mmengine load runner checkpoints (resume,
    ``load_from``, ``init_detector`` / ``init_model`` on a trained checkpoint); importing
    mmvitplug changes nothing. Idempotent. :func:`runner_checkpoints_allowed` limits it to a
    ``with`` block.
    """
    torch.serialization.add_safe_globals(runner_checkpoint_globals())


@contextlib.contextmanager
def runner_checkpoints_allowed(*extra: object) -> Iterator[None]:
    """:func:`allow_runner_checkpoints` inside a ``with`` block only (and the ``extra``
    globals); torch's allow-list is as before afterwards."""
    # torch's safe_globals removes its globals on exit, even those allowed before it: give it
    # only the missing ones, so that an earlier opt-in of the process stays.
    allowed = set(torch.serialization.get_safe_globals())
    missing = [g for g in [*runner_checkpoint_globals(), *extra] if g not in allowed]
    with torch.serialization.safe_globals(missing):
        yield


# ---------------------------------------------------------------------- reading
#: Non-tensor types that safe loading may rebuild in any checkpoint read here: plain records
#: that run no code. ``argparse.Namespace``: the command-line arguments the authors' DINO
#: trainer (IDEA-Research's main.py) saves beside the weights.
SAFE_RECORDS = (argparse.Namespace, )


def read_checkpoint(path: str, trust_source: bool = False, mmap: bool = False) -> object:
    """``torch.load(path)`` on the CPU with safe loading, or one :class:`CheckpointError`.

    Safe loading takes, besides tensors, the types of runner checkpoints and
    :data:`SAFE_RECORDS`, for this load only (:func:`runner_checkpoints_allowed`).

    Args:
        path: a local file.
        trust_source: unpickle fully (runs whatever code the file names: only for files from
            a trusted source).
        mmap: map the tensors' storages instead of reading them (zip-format files), for a
            cheap check that a large file loads.

    Raises:
        CheckpointError: the file is missing, empty, not a PyTorch checkpoint, truncated or
            damaged, or holds objects that safe loading refuses (nothing of it is run then).
    """
    if not osp.isfile(path):
        raise CheckpointError(f'{path}: checkpoint file not found')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointError(f'{path} is empty (0 bytes): an interrupted download or save?')
    with open(path, 'rb') as f:
        head = f.read(4)
    is_zip = head == _ZIP_MAGIC
    if not is_zip and not head.startswith(_PICKLE_MAGIC):
        raise CheckpointError(f'{path} is not a PyTorch checkpoint (it starts with {head!r}, '
                              'not a torch.save file)')
    if is_zip and not zipfile.is_zipfile(path):
        raise CheckpointError(f'{path} is truncated ({size} bytes, the end of the archive is '
                              'missing): an interrupted download or save?')
    try:
        with runner_checkpoints_allowed(*SAFE_RECORDS):
            return torch.load(path, map_location='cpu', weights_only=not trust_source,
                              mmap=mmap and is_zip)
    except pickle.UnpicklingError as err:
        text = str(err)
        if 'weights_only' not in text.lower() and 'weights only' not in text.lower():
            raise CheckpointError(f'{path} is damaged ({_first_line(text)})') from None
        named = re.search(r'GLOBAL ([\w.]+)', text)
        reason = f'it names {named.group(1)}' if named else _first_line(text)[:200]
        raise CheckpointError(
            f'{path} holds objects that safe loading refuses ({reason}); nothing in it was '
            'run. Load it only if it comes from a trusted source (converters: '
            '--trust-source)') from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        # Truncated legacy pickles end in EOFError; zip archives with damaged members raise
        # RuntimeError from torch's stream reader.
        raise CheckpointError(f'{path} is truncated or damaged '
                              f'({type(err).__name__}: {_first_line(str(err))})') from None


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else ''


def state_dict_of(ckpt: object, path: str) -> Dict[str, torch.Tensor]:
    """The weights of a loaded checkpoint: under ``state_dict`` (mmengine, mmvitplug's
    converters), ``model`` (the authors' releases) or the top level; a ``module.`` prefix of
    data-parallel training is removed.

    Raises:
        CheckpointError: no dict of tensors there.
    """
    state_dict = ckpt
    if isinstance(ckpt, dict):
        for key in ('state_dict', 'model'):
            if isinstance(ckpt.get(key), dict):
                state_dict = ckpt[key]
                break
    if not isinstance(state_dict, dict) or not state_dict or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        found = (f'a dict with keys {sorted(map(str, ckpt))[:8]}' if isinstance(ckpt, dict)
                 else f'a {type(ckpt).__name__}')
        raise CheckpointError(f'{path} holds no state_dict (looked for a dict of tensors under '
                              f'state_dict, model and the top level; found {found})')
    if all(k.startswith('module.') for k in state_dict):
        state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    return state_dict


def check_finite(state_dict: Dict[str, torch.Tensor], path: str) -> None:
    """Raise :class:`CheckpointError` when a floating-point tensor holds NaN or inf."""
    bad = [k for k, v in state_dict.items()
           if v.is_floating_point() and not v.is_meta and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(
            f'{path} holds non-finite weights (NaN or inf) in {len(bad)} of {len(state_dict)} '
            f'tensors, first: {", ".join(bad[:3])}; a model loaded from it computes NaN (was it '
            'saved after the training diverged?)')


def read_state_dict(path: str, trust_source: bool = False,
                    mmap: bool = False) -> Dict[str, torch.Tensor]:
    """:func:`read_checkpoint`, :func:`state_dict_of` and :func:`check_finite` in one."""
    state_dict = state_dict_of(read_checkpoint(path, trust_source, mmap), path)
    check_finite(state_dict, path)
    return state_dict


def latest_loadable_checkpoint(work_dir: str, log=print) -> Optional[str]:
    """The checkpoint ``--resume`` should continue from: the one ``last_checkpoint`` names, or
    when that one is missing or does not load, the newest ``*.pth`` of ``work_dir`` that loads.

    mmengine's own choice is ``last_checkpoint``'s content, taken unchecked. A file that does
    not load (cut off by a kill during a save, by a full disk) is skipped with one ``log`` line
    naming it; None when no checkpoint loads.
    """
    candidates = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named:
            candidates.append(named)
    if osp.isdir(work_dir):
        saved = [osp.join(work_dir, n) for n in os.listdir(work_dir) if n.endswith('.pth')]
        candidates += sorted(saved, key=_progress, reverse=True)
    for path in dict.fromkeys(candidates):  # in order, once each
        if not osp.isfile(path):
            log(f'skipping {path}: named by {pointer} but not found')
            continue
        try:
            state_dict_of(read_checkpoint(path, mmap=True), path)
        except CheckpointError as err:
            log(f'skipping {path}: it does not load ({err})')
            continue
        return path
    return None


def _progress(path: str) -> Tuple[int, float]:
    """Sort key of saved checkpoints: the step in the name (``iter_8.pth``, ``epoch_3.pth``,
    ``best_mIoU_iter_6.pth``), then the modification time."""
    digits = re.findall(r'(\d+)', osp.basename(path))
    return (int(digits[-1]) if digits else -1, osp.getmtime(path))


class LoadReport(NamedTuple):
    """How a state_dict fits a model's (:func:`match_state_dict`).

    Attributes:
        loadable: the checkpoint's tensors the model takes (name and shape match).
        missing: model keys the checkpoint lacks.
        mismatched: ``(key, checkpoint shape, model shape)`` of keys whose shapes differ.
        unexpected: checkpoint keys the model does not have.
        unloaded_fraction: the share of the model's values (elements of its parameters and
            persistent buffers) that loading would leave untouched.
    """
    loadable: Dict[str, torch.Tensor]
    missing: List[str]
    mismatched: List[Tuple[str, tuple, tuple]]
    unexpected: List[str]
    unloaded_fraction: float

    def describe(self, limit: int = 5) -> str:
        """Counts and the first keys of each kind, for messages."""
        total = len(self.loadable) + len(self.missing) + len(self.mismatched)
        parts = [f'{len(self.loadable)} of {total} tensors load, '
                 f'{self.unloaded_fraction:.1%} of the values would stay unloaded']
        for title, items in (
                ('missing', self.missing),
                ('shape mismatch', [f'{k} (checkpoint {c}, model {m})'
                                    for k, c, m in self.mismatched]),
                ('unexpected', self.unexpected)):
            if items:
                more = f', ... ({len(items) - limit} more)' if len(items) > limit else ''
                parts.append(f'{title} ({len(items)}): {", ".join(items[:limit])}{more}')
        return '; '.join(parts)


def match_state_dict(model_state: Dict[str, torch.Tensor],
                     state_dict: Dict[str, torch.Tensor]) -> LoadReport:
    """Compare a checkpoint's ``state_dict`` with a model's (``model.state_dict()``)."""
    loadable, missing, mismatched, unloaded = {}, [], [], 0
    for key, own in model_state.items():
        theirs = state_dict.get(key)
        if theirs is None:
            missing.append(key)
        elif theirs.shape != own.shape:
            mismatched.append((key, tuple(theirs.shape), tuple(own.shape)))
        else:
            loadable[key] = theirs
            continue
        unloaded += own.numel()
    total = sum(v.numel() for v in model_state.values())
    unexpected = [k for k in state_dict if k not in model_state]
    return LoadReport(loadable, missing, mismatched, unexpected, unloaded / max(total, 1))


# ---------------------------------------------------------------------- writing
def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` never holds a part of it: the bytes go to a
    temporary file in the same folder, are flushed to disk, and the file is renamed over
    ``path`` (an atomic replacement on POSIX and Windows). A kill during the write leaves at
    most a ``.<name>.<pid>.tmp`` file behind, and the previous ``path`` untouched."""
    folder, name = osp.split(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{name}.{os.getpid()}.tmp')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
