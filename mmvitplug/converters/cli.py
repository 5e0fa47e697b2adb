"""The converter's command line: ``python -m mmvitplug.converters FAMILY SRC DST``.

The repository's ``tools/model_converters/<family>_to_mmvitplug.py`` scripts are the same
command with the family fixed (:func:`main` with ``family``).
"""
import argparse
import ast
import os.path as osp
import sys
import textwrap
from typing import List, Optional

from ..licences import FAMILY_LICENCES, PACKAGE_LICENCE, weights_licence_note
from . import CONVERTERS, ConversionError, convert_checkpoint

#: the command that runs :func:`main` (installed with the package)
COMMAND = 'python -m mmvitplug.converters'

#: family -> what its converter recognises (the help's list)
RECOGNISED = {
    'fastervit': "the authors' ImageNet classifiers (.pth.tar, weights under state_dict; "
                 'variants 0-6 and 4-21k at 224/384/512/768) and their DINO detector '
                 "(IDEA-Research DINO's layout, to mmdet's DINO)",
    'biformer': "the authors' ImageNet classifiers (tiny, small, base) and their released "
                'Mask R-CNN, RetinaNet, Semantic FPN and UPerNet models (BiFormer_mm '
                'backbone; mmdet 2.x/3.x, mmseg 0.x/1.x)',
    'litv2': "the authors' ImageNet classifiers (s, m, b) and their released Mask R-CNN, "
             'RetinaNet and Semantic FPN models (mmdet 2.x/3.x, mmseg 0.x/1.x)',
}

#: family -> (official file, converted file) of the help's examples
EXAMPLES = {
    'fastervit': ('fastervit_0_224_1k.pth.tar', 'checkpoints/fastervit-0_in1k.pth'),
    'biformer': ('biformer_small_best.pth', 'checkpoints/biformer-small_in1k.pth'),
    'litv2': ('litv2_s.pth', 'checkpoints/litv2-s_in1k.pth'),
}

_WHAT_IT_WRITES = (
    'The kind of file is recognised from its keys. A classifier becomes mmpretrain '
    "ImageClassifier keys (backbone.*, head.fc.*), for det/seg configs' "
    "init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.'). A released detector "
    "or segmentor becomes the same model with mmvitplug's backbone, checked to load strictly "
    'into the shipped config of that model and variant (--target CONFIG names another), for '
    'testing, load_from or init_detector / init_model. Released variants are recognised from '
    'the keys; for another architecture pass the official constructor kwargs with --config. '
    'The output loads under torch.load(weights_only=True) and is checked before it is written.')


def _epilog(families: List[str]) -> str:
    width = max(len(f) for f in families)

    def item(family: str, text: str) -> str:
        return textwrap.fill(text, 79, initial_indent=f'  {family:<{width}}  ',
                             subsequent_indent=' ' * (width + 4), break_on_hyphens=False)

    lines = ['what it converts:', *(item(f, RECOGNISED[f]) for f in families), '',
             textwrap.fill(_WHAT_IT_WRITES, 79), '',
             textwrap.fill(f"licences of the authors' weights (converted files keep them; "
                           f"mmvitplug's own code is {PACKAGE_LICENCE}):", 79)]
    for f in families:
        licence = FAMILY_LICENCES[f]
        limit = '' if licence.commercial_use else ', non-commercial use only'
        lines.append(item(f, f'{licence.name}{limit}: {licence.url}'))
    lines += ['', 'examples:']
    lines += [f'  {COMMAND} {f} {" ".join(EXAMPLES[f])}' for f in families]
    return '\n'.join(lines)


def build_parser(family: Optional[str] = None,
                 description: Optional[str] = None) -> argparse.ArgumentParser:
    """The converter's arguments; without ``family`` the first argument names it."""
    families = sorted(CONVERTERS) if family is None else [family]
    if family is None:
        description = description or ("Convert the authors' released FasterViT, BiFormer or "
                                       'LITv2 checkpoints into mmvitplug checkpoints.')
    else:
        description = description or (
            f"Convert the authors' released {CONVERTERS[family].backbone_type} checkpoints "
            f'into mmvitplug checkpoints (the same as {COMMAND} {family} ...).')
    parser = argparse.ArgumentParser(
        prog=COMMAND if family is None else None, description=description,
        epilog=_epilog(families), formatter_class=argparse.RawDescriptionHelpFormatter)
    if family is None:
        parser.add_argument('family', choices=families, metavar='FAMILY',
                            help=f'the model family of SRC: {", ".join(families)}')
    parser.add_argument('src', metavar='SRC', help="official checkpoint: the authors' ImageNet classifier, or "
                        'their released detector / segmentor (mmdet 2.x/3.x, mmseg 0.x/1.x, '
                        "IDEA-Research DINO's layout)")
    parser.add_argument('dst', metavar='DST', help='output checkpoint')
    parser.add_argument('--config', help='official constructor kwargs as a Python dict literal, '
                        "e.g. \"{'embed_dim': 96, 'depths': [2, 2, 6, 2], ...}\" (for a "
                        "detector or segmentor: its config's model.backbone without type)")
    parser.add_argument('--target', help='the mmvitplug config the converted detector or '
                        'segmentor must load into strictly (default: the shipped config of the '
                        'recognised model and variant)')
    parser.add_argument('--trust-source', action='store_true',
                        help='unpickle the file fully when safe loading refuses its non-tensor '
                        'objects (only for files from a trusted source)')
    return parser


def main(family: Optional[str] = None, doc: Optional[str] = None, argv=None) -> int:
    """Convert one checkpoint; the exit status (2 for a file that cannot be converted).

    Args:
        family: the family of every file converted (the per-family scripts); None: the first
            command-line argument names it.
        doc: a description replacing the default one (its first paragraph).
        argv: the arguments (default: ``sys.argv[1:]``).
    """
    description = doc.split('\n\n')[0] if doc else None
    args = build_parser(family, description).parse_args(argv)
    family = family or args.family
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
    print(f'licence: {weights_licence_note(family)}')
    return 0
