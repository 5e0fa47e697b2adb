#!/usr/bin/env python
"""Memory of one training step per process for the giant FasterViT variants: data parallel
(DDP) against sharded (FSDP, configs/_base_/recipes/fsdp.py) over 2 and 8 processes, with and
without gradient checkpointing (``with_cp``).

    .venv/bin/python benchmarks/training_memory.py      # writes benchmarks/training_memory.{json,md}
    .venv/bin/python benchmarks/training_memory.py --models 4 --out /tmp/memory

The model is the ImageNet classifier of ``configs/fastervit/fastervit-N_32xb128_in1k.py``
(backbone, pooling, linear head) at 224x224 with the recipe's 128 images per process, trained
with mixed precision (float32 weights, 16-bit autocast) and Lamb (two float32 moments per
parameter).
A step holds, per process:

* states: parameters, gradients and optimizer moments, 16 bytes per parameter, counted from the
  built model (exact); FSDP keeps 1/N of each (each unit's flat parameter is padded to a
  multiple of N and split) plus, while it runs, the gathered float32 parameters of the root unit
  (everything outside the backbone blocks) and of two block units (the running and the
  prefetched one) and the gradient of one;
* activations: the tensors autograd saves for the backward pass, measured here on the CPU under
  bfloat16 autocast (the 16-bit casts of the same op classes as a GPU's autocast: convolutions,
  linear layers, matrix products), deduplicated by storage, parameters excluded; measured at
  batch 1 and 2, the per-image part is the difference and the rest (the 16-bit weight copies
  autocast saves) does not grow with the batch. With ``with_cp`` only the blocks' inputs and the
  layers outside the blocks are kept, and the backward pass recomputes one block at a time: the
  peak adds the largest block's own saved tensors (measured without ``with_cp``, per block).

The totals are computed from these measured parts (no GPU here); ``benchmarks/gpu.py`` measures
the peak of a real step (``torch.cuda.max_memory_allocated``) on a device.
"""
import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import command_line, write_report  # noqa: E402

from mmvitplug.sharding import is_block  # noqa: E402

BATCH = 128
SIZE = 224
STATE_BYTES = 16  # float32 parameter + gradient + two Lamb/AdamW moments
GIB = 2**30
HEAD_IN = {'4': 1568, '5': 2560, '6': 2560}  # the configs' head.in_channels


class Classifier(nn.Module):
    """The ImageNet configs' model without mmpretrain: backbone, global pooling, linear head."""

    def __init__(self, arch: str, with_cp: bool) -> None:
        super().__init__()
        from mmvitplug.models import FasterViT
        self.backbone = FasterViT(arch, out_indices=(3, ), with_cp=with_cp)
        self.head = nn.Linear(HEAD_IN[arch], 1000)

    def forward(self, x):
        return self.head(self.backbone(x)[-1].mean((2, 3)))


def _units(model: nn.Module):
    """Parameter counts of the FSDP units :func:`mmvitplug.sharding.block_wrap_policy` makes:
    the blocks, and the root (everything else)."""
    units = [sum(p.numel() for p in m.parameters()) for m in model.modules() if is_block(m)]
    total = sum(p.numel() for p in model.parameters())
    return total, total - sum(units), units


def _saved_bytes(model: nn.Module, x: torch.Tensor, per_block: bool = False):
    """Bytes autograd saves in a bfloat16-autocast forward of ``model`` (parameters excluded,
    each storage once), and with ``per_block`` the bytes saved inside each block."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen, current, shares = {}, [None], {}

    def pack(t):
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in params and ptr not in seen:
            seen[ptr] = storage.nbytes()
            if current[0] is not None:
                shares[current[0]] = shares.get(current[0], 0) + storage.nbytes()
        return t

    hooks = []
    if per_block:
        for i, m in enumerate(model.modules()):
            if is_block(m):
                hooks.append(m.register_forward_pre_hook(
                    lambda mod, args, i=i: current.__setitem__(0, i)))
                hooks.append(m.register_forward_hook(
                    lambda mod, args, out: current.__setitem__(0, None)))
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
                torch.autocast('cpu', dtype=torch.bfloat16):
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    del out
    return sum(seen.values()), shares


def _block_inputs(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the inputs of every block: what ``with_cp`` keeps of each (checkpointing holds
    them outside autograd's saved tensors)."""
    total = [0]

    def count(mod, args):
        total[0] += sum(a.numel() * a.element_size() for a in args if torch.is_tensor(a))

    hooks = [m.register_forward_pre_hook(count) for m in model.modules() if is_block(m)]
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        model(x)
    for h in hooks:
        h.remove()
    return total[0]


def measure(arch: str) -> dict:
    torch.manual_seed(0)
    model = Classifier(arch, with_cp=False).train()
    total, root, units = _units(model)
    x1, x2 = torch.randn(1, 3, SIZE, SIZE), torch.randn(2, 3, SIZE, SIZE)
    full1, blocks1 = _saved_bytes(model, x1, per_block=True)
    full2, blocks2 = _saved_bytes(model, x2, per_block=True)
    # A block's share: per image, and fixed (its 16-bit weight copies); the recomputation's
    # peak is the largest block at the recipe's batch.
    block_shares = [(blocks2[i] - blocks1[i], 2 * blocks1[i] - blocks2[i]) for i in blocks1]
    model.backbone.with_cp = True
    cp1, _ = _saved_bytes(model, x1)
    cp2, _ = _saved_bytes(model, x2)
    inputs1, inputs2 = _block_inputs(model, x1), _block_inputs(model, x2)
    del model
    gc.collect()
    per_image = full2 - full1
    cp_per_image = (cp2 + inputs2) - (cp1 + inputs1)
    return dict(arch=arch, params=total, root_params=root, block_units=len(units),
                largest_unit=max(units),
                saved_per_image=per_image, saved_fixed=full1 - per_image,
                cp_saved_per_image=cp_per_image, cp_saved_fixed=(cp1 + inputs1) - cp_per_image,
                block_saved=block_shares)


def per_rank(m: dict, ranks: int, sharded: bool, with_cp: bool, batch: int = BATCH) -> dict:
    """GiB per process of one step: states, gathered parameters, activations."""
    if sharded:
        states = STATE_BYTES * m['params'] / ranks
        gathered = 4 * (m['root_params'] + 3 * m['largest_unit'])  # 2 units' params + 1 grad
    else:
        states, gathered = STATE_BYTES * m['params'], 0
    if with_cp:
        acts = (m['cp_saved_fixed'] + batch * m['cp_saved_per_image']
                + max(fixed + batch * image for image, fixed in m['block_saved']))
    else:
        acts = m['saved_fixed'] + batch * m['saved_per_image']
    return dict(states=states / GIB, gathered=gathered / GIB, activations=acts / GIB,
                total=(states + gathered + acts) / GIB)


SETUPS = [('DDP', 1, False, False), ('DDP', 1, False, True), ('FSDP', 2, True, True),
          ('FSDP', 8, True, True), ('FSDP', 8, True, False)]


def render(result: dict) -> str:
    lines = ['# Training memory per process: FasterViT-4/5/6 (ImageNet, 224x224, '
             f'{BATCH} images per process)', '',
             f'Command: `{result["command"]}` ({result["minutes"]:.1f} min; torch '
             f'{result["torch"]}). Measured parts (CPU, bfloat16 autocast): parameter counts, '
             'saved activations per image and fixed, per block; totals computed from them '
             '(see the script\'s docstring). GiB.', '',
             '| model | params | saved per image: no cp / with_cp (MiB) | '
             + ' | '.join(f'{s} x{n}{" with_cp" if cp else ""}' for s, n, _, cp in SETUPS)
             + ' |', '|---|---|---|' + '---|' * len(SETUPS)]
    for m in result['models']:
        cells = []
        for name, ranks, sharded, cp in SETUPS:
            r = per_rank(m, ranks, sharded, cp)
            cells.append(f'{r["total"]:.1f} ({r["states"]:.1f} + {r["gathered"]:.1f} + '
                         f'{r["activations"]:.1f})')
        lines.append(f'| FasterViT-{m["arch"]} | {m["params"] / 1e6:.0f} M | '
                     f'{m["saved_per_image"] / 2**20:.0f} / {m["cp_saved_per_image"] / 2**20:.0f}'
                     f' | ' + ' | '.join(cells) + ' |')
    lines += ['', 'Each cell: total (states + gathered parameters + activations). "x1" is data '
              'parallel at any number of processes: every process holds everything. The '
              'activations include the 16-bit weight copies autocast keeps for the backward '
              'pass (2 bytes per parameter without with_cp; with it, only those outside the '
              'blocks and of the block being recomputed); with_cp\'s per-image figure excludes '
              'the block being recomputed. An 80 GB GPU holds 74.5 GiB.', '']
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', default=['4', '5', '6'], choices=list(HEAD_IN))
    parser.add_argument('--out', default=str(HERE / 'training_memory'))
    parser.add_argument('--measure', choices=list(HEAD_IN), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # one model in this fresh process: the memory the last one held is gone
        print(json.dumps(measure(args.measure)))
        return 0
    start = time.time()
    models = []
    for arch in args.models:
        print(f'[training_memory {time.time() - start:5.0f} s] FasterViT-{arch}', flush=True)
        out = subprocess.run([sys.executable, __file__, '--measure', arch], check=True,
                             capture_output=True, text=True).stdout
        models.append(json.loads(out.strip().splitlines()[-1]))
    write_report(args.out, dict(command=command_line('training_memory.py', argv),
                                torch=torch.__version__, minutes=(time.time() - start) / 60,
                                models=models), render)
    return 0


if __name__ == '__main__':
    sys.exit(main())
