#!/usr/bin/env python
"""Eager speed of the working tree against an earlier revision, in one process, interleaved,
with mmdet's Swin-T as the common peer.

    .venv/bin/python benchmarks/before_after.py --rev 7cd1072   # writes benchmarks/before_after.*

The package at ``--rev`` is exported from git into a temporary directory as
``mmvitplug_before`` and imported beside the working tree's ``mmvitplug`` (with mmengine's
registries turned off while it imports, so the two do not collide in them). Both build
each backbone from the same seed; the table gives each one's speed relative to Swin-T and the
after/before speed ratio. A change to the layers must keep after/before at 1 within noise.
"""
import argparse
import importlib
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from unittest import mock

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from common import biformer_n_win, build_backbone, header_line, write_report  # noqa: E402

from mmvitplug.utils.benchmarking import interleaved_medians, machine_header  # noqa: E402

SHAPES = [(8, 224, 224), (1, 512, 512), (1, 800, 1344)]
# name -> (class, arch, keyword arguments by input size)
MODELS = {
    'FasterViT-0': ('FasterViT', '0', lambda h, w: {}),
    'BiFormer-T': ('BiFormer', 'tiny', lambda h, w: dict(n_win=biformer_n_win(h, w))),
    'LITv2-S': ('LITv2', 's', lambda h, w: {}),
}


def import_revision(rev: str, workdir: str):
    """``mmvitplug.models`` as of git revision ``rev``, imported as ``mmvitplug_before``."""
    archive = subprocess.run(['git', 'archive', rev, 'mmvitplug'], cwd=REPO, check=True,
                             capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', workdir], input=archive, check=True)
    package = Path(workdir) / 'mmvitplug_before'
    (Path(workdir) / 'mmvitplug').rename(package)
    for path in package.rglob('*.py'):
        path.write_text(re.sub(r'\bmmvitplug\b', 'mmvitplug_before', path.read_text()))
    sys.path.insert(0, workdir)
    from mmengine.registry import Registry

    def register_nothing(self, name=None, force=False, module=None):
        return module if module is not None else (lambda cls: cls)

    # Registries (and mmengine's storage backends) look empty and register nothing while the
    # old copy imports.
    with mock.patch.object(Registry, 'register_module', register_nothing), \
            mock.patch.object(Registry, 'module_dict', new_callable=mock.PropertyMock,
                              return_value={}), \
            mock.patch('mmengine.fileio.backends.registry_utils._register_backend'):
        return importlib.import_module('mmvitplug_before.models')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rev', default='HEAD', help='git revision to compare against')
    parser.add_argument('--repeats', type=int, default=11)
    parser.add_argument('--out', default=str(HERE / 'before_after'), help='output path stem')
    parser.add_argument('--models', nargs='+', choices=list(MODELS), default=list(MODELS))
    parser.add_argument('--shapes', nargs='+', metavar='BxHxW',
                        default=['x'.join(map(str, s)) for s in SHAPES])
    args = parser.parse_args(argv)
    shapes = [tuple(int(v) for v in s.split('x')) for s in args.shapes]
    if any(len(s) != 3 for s in shapes):
        parser.error(f'--shapes takes BxHxW, got {args.shapes}')
    warnings.filterwarnings('ignore')
    import mmvitplug.models as after
    commit = subprocess.run(['git', 'rev-parse', '--short', args.rev], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.strip()
    info = machine_header()
    print(f'CPU: {info["cpu"]}, {info["threads"]} threads; before = {commit}', flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        before = import_revision(args.rev, workdir)
        swin = build_backbone('Swin-T')
        for b, h, w in shapes:
            print(f'{b}x{h}x{w} ...', flush=True)
            models = {'Swin-T': swin}
            for name in args.models:
                cls, arch, kwargs = MODELS[name]
                for tag, package in (('before', before), ('after', after)):
                    torch.manual_seed(0)
                    models[f'{name} {tag}'] = getattr(package, cls)(arch, **kwargs(h, w)).eval()
            x = torch.randn(b, 3, h, w)
            medians = interleaved_medians({k: (lambda m=m: m(x)) for k, m in models.items()},
                                          args.repeats)
            swin_s = medians['Swin-T']
            for name in args.models:
                old, new = medians[f'{name} before'], medians[f'{name} after']
                rows.append(dict(model=name, batch=b, height=h, width=w, swin_ms=swin_s * 1e3,
                                 before_ms=old * 1e3, after_ms=new * 1e3,
                                 before_vs_swin=swin_s / old, after_vs_swin=swin_s / new,
                                 after_over_before_speed=old / new))
    command = ' '.join(['.venv/bin/python benchmarks/before_after.py', *(argv or sys.argv[1:])])
    write_report(args.out, dict(header=info, repeats=args.repeats, rev=commit, rows=rows,
                                command=command), render)
    return 0


def render(result: dict) -> str:
    lines = [f'# Eager speed: working tree vs {result["rev"]}', '',
             header_line(result['header'], result['repeats']), '',
             f'Command: `{result["command"]}`', '',
             'BiFormer-T with the authors\' n_win for the size (7, 8, 16).', '',
             '| input (BxHxW) | model | before: speed vs Swin-T | after: speed vs Swin-T | '
             'after/before speed |',
             '|---|---|---|---|---|']
    for r in result['rows']:
        lines.append(f'| {r["batch"]}x{r["height"]}x{r["width"]} | {r["model"]} | '
                     f'{r["before_vs_swin"]:.2f}x ({r["before_ms"]:.0f} ms) | '
                     f'{r["after_vs_swin"]:.2f}x ({r["after_ms"]:.0f} ms) | '
                     f'{r["after_over_before_speed"]:.3f} |')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    sys.exit(main())
