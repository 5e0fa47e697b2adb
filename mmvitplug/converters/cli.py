"""Command line shared by ``tools/model_converters/<family>_to_mmvitplug.py``."""
import argparse
import ast
import os.path as osp
import sys

from . import ConversionError, convert_checkpoint


def main(family: str, doc: str, argv=None) -> int:
    parser = argparse.ArgumentParser(description=doc.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help="official checkpoint: the authors' ImageNet classifier, or "
                        'their released detector / segmentor (mmdet 2.x/3.x, mmseg 0.x/1.x, '
                        "IDEA-Research DINO's layout)")
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--config', help='official constructor kwargs as a Python dict literal, '
                        "e.g. \"{'embed_dim': 96, 'depths': [2, 2, 6, 2], ...}\" (for a "
                        "detector or segmentor: its config's model.backbone without type)")
    parser.add_argument('--target', help='the mmvitplug config the converted detector or '
                        'segmentor must load into strictly (default: the shipped config of the '
                        'recognised model and variant)')
    parser.add_argument('--trust-source', action='store_true',
                        help='unpickle the file fully when safe loading refuses its non-tensor '
                        'objects (only for files from a trusted source)')
    args = parser.parse_args(argv)
    if args.target is not None and not osp.isfile(args.target):
        print(f'error: --target config not found: {args.target}', file=sys.stderr)
        return 2
    if not osp.isfile(args.src):
        print(f'error: checkpoint not found: {args.src}', file=sys.stderr)
        return 2
    config = None
    if args.config:
        try:
            config = ast.literal_eval(args.config)
        except (ValueError, SyntaxError) as err:
            print(f'error: --config is not a Python dict literal: {err}', file=sys.stderr)
            return 2
    try:
        meta = convert_checkpoint(family, args.src, args.dst, config, args.trust_source,
                                  args.target)
    except ConversionError as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 2
    what = f"arch {meta['arch']!r}" if meta['arch'] else 'the given architecture'
    into = f" into {meta['target_config']}" if meta.get('target_config') else ''
    print(f"converted {args.src} ({meta['model']}, {what}) -> {args.dst}; loads strictly{into}")
    for warning in meta.get('warnings', ()):
        print(f'warning: {warning}', file=sys.stderr)
    if meta.get('unused_keys'):
        print(f"left out {len(meta['unused_keys'])} tensors of output norms the config's "
              f"backbone does not output (they never affect the outputs): "
              f"{', '.join(meta['unused_keys'])}")
    return 0
