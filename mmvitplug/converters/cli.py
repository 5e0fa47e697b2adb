"""Command line shared by ``tools/model_converters/<family>_to_mmvitplug.py``."""
import argparse
import ast
import os.path as osp
import sys

from . import ConversionError, convert_checkpoint


def main(family: str, doc: str, argv=None) -> int:
    parser = argparse.ArgumentParser(description=doc.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--config', help='official constructor kwargs as a Python dict literal, '
                        "e.g. \"{'embed_dim': 96, 'depths': [2, 2, 6, 2], ...}\"")
    parser.add_argument('--trust-source', action='store_true',
                        help='unpickle the file fully when safe loading refuses its non-tensor '
                        'objects (only for files from a trusted source)')
    args = parser.parse_args(argv)
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
        meta = convert_checkpoint(family, args.src, args.dst, config, args.trust_source)
    except ConversionError as err:
        print(f'error: {args.src}: {err}', file=sys.stderr)
        return 2
    what = f"arch {meta['arch']!r}" if meta['arch'] else 'the given config'
    print(f'converted {args.src} ({what}) -> {args.dst}; loads strictly')
    return 0
