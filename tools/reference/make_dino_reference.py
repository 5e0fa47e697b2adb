#!/usr/bin/env python
"""Make the reference case of FasterViT's DINO detector, from the authors' own code.

Writes, under ``--out`` (``tests/data/downstream/dino``):

* ``fastervit_dino_tiny.pt``: the authors' DINO-4scale (their fork of IDEA-Research's DINO in
  NVlabs/FasterViT ``downstream/object_detection/dino``), built from their released config
  ``config/DINO/DINO_4scale_faster_vit_4_21k_224.py`` with smaller sizes (below), its weights
  redrawn with a seed (the authors' checkpoint layout, ``{'model': state_dict}`` as their
  ``main.py`` saves it), a seeded input, and what their model computes for it in eval mode:
  the backbone's output maps, the input projections, the encoder memory, the decoder's states
  and reference boxes, the final and per-layer logits and boxes, the encoder's proposals, and
  their ``PostProcess`` (top-300) detections.
* ``fastervit_dino_4_21k_224_layout.json``: the state_dict keys and shapes of the released
  model (``DINO_4scale_faster_vit_4_21k_224``, built at full size on the CPU), so that the
  converter can be checked against the real layout without the 1.8 GB file.

The outputs come from the authors' source files, imported unmodified from an extracted tree of
NVlabs/FasterViT at COMMIT; this script never contains or copies their code, and checks the git
blob id of every file it imports that computes something. CI never runs it.

Stubbed: the compiled ``MultiScaleDeformableAttention`` extension (CUDA) - the authors'
``MSDeformAttn`` module runs unmodified, with its ``MSDeformAttnFunction.apply`` computed by
the authors' own pure-PyTorch ``ms_deform_attn_core_pytorch`` from the same file (the
reference implementation their test compares the CUDA kernel with). The backbone's ImageNet
checkpoint, which ``build_backbone`` loads with ``strict=False``, is an empty state_dict.

Run (about 1 minute on 2 CPU cores; timm 0.9.16 for ``LayerNorm2d``/``DropPath``)::

    git -C FasterViT archive 22154cc downstream/object_detection/dino | tar -x -C /tmp/authors/fvdino
    PYTHONPATH=/tmp/refdeps .venv/bin/python tools/reference/make_dino_reference.py \\
        --dino /tmp/authors/fvdino/downstream/object_detection/dino --out tests/data/downstream/dino
"""
import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
import types

import torch
import torch.nn as nn

COMMIT = '22154cc15ad42fc7d9311e84859b691cdaca1ff5'
RELEASED_CONFIG = 'config/DINO/DINO_4scale_faster_vit_4_21k_224.py'
# Blob ids at COMMIT of the files whose code runs here.
EXPECTED_BLOBS = {
    'models/dino/dino.py': 'd8d09f81a592177583277f176e5ae118b4a85cf6',
    'models/dino/deformable_transformer.py': 'e9b699eb8a99f123664631d3b210bbdd6d5a5678',
    'models/dino/backbone.py': 'ad4974b20fa2af45c745f28fcfeb91f9a69fa830',
    'models/dino/fastervit.py': '784933840126576c1e0aa8070b75af2fa93c3d12',
    'models/dino/position_encoding.py': '255a4d15f112442d446d465a055b26ab0c92eb68',
    'models/dino/utils.py': '991b9d3d9d81d299e629233fc01cc8770aeb189f',
    'models/dino/ops/modules/ms_deform_attn.py': '0c22ac8b7611a7920115ce253bc9ef5510744dfd',
    'models/dino/ops/functions/ms_deform_attn_func.py': '8c5df8cf5d23aca963eec6c1133c180b37289607',
    'util/misc.py': '7d2f4d7fdfb303bddef004a6536983914024da89',
    'util/box_ops.py': '0d8e29aedcb747393e7348d0c6aaf8a6dbe5d7c9',
    RELEASED_CONFIG: '01107ab667f9a01fe64db70cf660041c45ab2529',
    'config/DINO/coco_transformer.py': 'e7b3feeaef9cc890891d3e1733e4fec91ccba426',
}

#: The released backbone ('faster_vit_4_21k_224': window attention only, windows 7/7/14/7,
#: layer scale 1e-5) narrowed and shortened; the authors' build passes out_indices and
#: use_checkpoint on top, as for the released one.
TINY_BACKBONE = dict(depths=[1, 1, 2, 1], num_heads=[2, 2, 2, 4], window_size=[7, 7, 14, 7],
                     dim=8, ct_size=2, in_dim=8, mlp_ratio=4, drop_path_rate=0.1,
                     layer_scale=1e-5, hat=[False, False, False, False])
#: DINO's sizes, smaller. hidden_dim stays 256: both DINOs hard-code the 128 sine features per
#: coordinate of the query position embedding.
TINY_DINO = dict(enc_layers=2, dec_layers=2, dim_feedforward=64, nheads=2, enc_n_points=2,
                 dec_n_points=2, num_queries=100)
WEIGHT_SEED, INPUT_SEED = 301, 0
#: The input: its stride-16 and stride-32 maps (9 x 13, 5 x 7) need padding to the windows
#: (14, 7), which the authors' dense backbone does without a mask.
INPUT_HW = (136, 200)
#: COCO category ids: the rows of the authors' 91-way class layers that name a class.
COCO_IDS = (list(range(1, 12)) + list(range(13, 26)) + [27, 28] + list(range(31, 45)) +
            list(range(46, 66)) + [67, 70] + list(range(72, 83)) + list(range(84, 91)))


def log(msg):
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', flush=True)


def git_blob_id(path):
    with open(path, 'rb') as f:
        data = f.read()
    return hashlib.sha1(b'blob %d\0' % len(data) + data).hexdigest()


def check_sources(root, allow_other):
    for rel, want in EXPECTED_BLOBS.items():
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            raise SystemExit(f'{path} is missing; pass the dino folder of the extracted tree')
        got = git_blob_id(path)
        if got != want:
            msg = f'{rel} has blob {got}, expected {want} (not commit {COMMIT[:7]})'
            if not allow_other:
                raise SystemExit(msg)
            log('WARNING ' + msg)


def import_authors(root):
    """The authors' modules, with the CUDA op replaced by their pure-PyTorch function."""
    sys.path.insert(0, root)
    sys.modules['MultiScaleDeformableAttention'] = types.ModuleType(
        'MultiScaleDeformableAttention')
    from models.dino.ops.functions import ms_deform_attn_func
    from models.dino.ops.modules import ms_deform_attn

    def apply(value, shapes, level_start_index, locations, weights, im2col_step):
        return ms_deform_attn_func.ms_deform_attn_core_pytorch(value, shapes, locations, weights)

    ms_deform_attn.MSDeformAttnFunction = types.SimpleNamespace(apply=apply)
    from models.dino import backbone, dino, fastervit
    from util.slconfig import SLConfig
    return types.SimpleNamespace(backbone=backbone, dino=dino, fastervit=fastervit,
                                 SLConfig=SLConfig)


def authors_args(authors, root, overrides, checkpoint_dir):
    """The argparse namespace ``main.py`` builds from the released config (its command-line
    defaults that the model reads, then the config), with ``overrides``."""
    cfg = authors.SLConfig.fromfile(os.path.join(root, RELEASED_CONFIG))
    args = argparse.Namespace(device='cpu', backbone_dir=checkpoint_dir, masks=False,
                              frozen_weights=None, dataset_file='coco')
    for k, v in cfg._cfg_dict.to_dict().items():
        setattr(args, k, v)
    for k, v in overrides.items():
        setattr(args, k, v)
    return args


def build_authors_dino(authors, root, overrides, backbone_kwargs=None):
    """``build_dino(args)``; ``backbone_kwargs`` replace the released backbone's sizes."""
    with tempfile.TemporaryDirectory() as tmp:
        # build_backbone loads the ImageNet checkpoint named in its table (strict=False)
        torch.save({'state_dict': {}}, os.path.join(tmp, 'fastervit_4_21k_224_w14.pth.tar'))
        args = authors_args(authors, root, overrides, tmp)
        original = authors.backbone.build_fastervit
        if backbone_kwargs is not None:
            authors.backbone.build_fastervit = (
                lambda name, **kw: authors.fastervit.FasterViT(**backbone_kwargs, **kw))
        try:
            build = authors.dino.build_dino
            model, _, postprocessors = getattr(build, '__wrapped__', build)(args)
        finally:
            authors.backbone.build_fastervit = original
    return model.eval(), postprocessors, args


def draw_weights(model, seed):
    """Redraw every float parameter and the BatchNorm statistics (geometry buffers keep the
    values the model computed); tensors shared between modules (DINO's per-layer class and
    box layers, its decoder's copies of them) stay shared."""
    gen = torch.Generator().manual_seed(seed)
    modules = dict(model.named_modules())
    seen = set()
    with torch.no_grad():
        for key, t in model.state_dict(keep_vars=True).items():
            if not t.is_floating_point() or id(t) in seen:
                continue
            seen.add(id(t))
            mod_name, _, pname = key.rpartition('.')
            m = modules[mod_name]
            if not isinstance(t, nn.Parameter) and not isinstance(
                    m, nn.modules.batchnorm._BatchNorm):
                continue  # geometry buffers (the position bias's coordinate table)
            normal = torch.randn(t.shape, generator=gen)
            uniform = torch.rand(t.shape, generator=gen) + 0.5
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                new = {'weight': uniform, 'bias': 0.1 * normal, 'running_mean': 0.1 * normal,
                       'running_var': uniform}[pname]
            elif isinstance(m, (nn.LayerNorm, nn.GroupNorm)) or type(m).__name__ == 'LayerNorm2d':
                new = {'weight': uniform, 'bias': 0.1 * normal}[pname]
            elif key.endswith('sampling_offsets.bias'):
                new = 2.0 * normal  # offsets of a few cells, as the grid initialisation gives
            elif pname.endswith('bias'):
                new = 0.1 * normal
            elif t.dim() >= 2:
                new = normal / math.sqrt(t[0].numel())
            elif pname.startswith('gamma'):
                new = 0.2 * uniform  # layer scales: large enough for every branch to count
            else:
                raise RuntimeError(f'no drawing rule for {key} ({type(m).__name__})')
            # float16 values (stored as float16 in the case file, exactly float32 again there)
            t.copy_(new.half().float())
        # A trained COCO model never predicts the 11 ids that name no category; make the
        # random one alike (its class logits there far below the others), so that query
        # selection and the top-300 never pick them, as with the released weights.
        unused = [i for i in range(91) if i not in COCO_IDS]
        for name, m in model.named_modules():
            if isinstance(m, nn.Linear) and m.out_features == 91:
                m.bias[unused] = -30.0


def record(model, postprocessors, x):
    """Run the authors' model on ``x`` (no padding: mask all False) and keep its tensors."""
    from util.misc import NestedTensor
    store = {}

    def keep(name):
        def hook(mod, args, out):
            store[name] = out
        return hook

    handles = [model.backbone[0].register_forward_hook(keep('backbone')),
               model.transformer.encoder.register_forward_hook(keep('encoder')),
               model.transformer.register_forward_hook(keep('transformer'))]
    handles += [p.register_forward_hook(keep(f'input_proj{i}'))
                for i, p in enumerate(model.input_proj)]
    mask = torch.zeros(x.shape[0], *x.shape[2:], dtype=torch.bool)
    with torch.no_grad():
        out = model(NestedTensor(x, mask))
        sizes = torch.tensor([list(x.shape[2:])] * x.shape[0])
        post = postprocessors['bbox'](out, sizes)
    for h in handles:
        h.remove()
    hs, references, hs_enc, ref_enc, init_box_proposal = store['transformer']
    return dict(
        backbone=[store['backbone'][i].tensors for i in sorted(store['backbone'])],
        srcs=[store[f'input_proj{i}'] for i in range(len(model.input_proj))],
        memory=store['encoder'][0],
        hidden_states=torch.stack(hs),
        references=torch.stack(references),
        pred_logits=out['pred_logits'], pred_boxes=out['pred_boxes'],
        aux_logits=torch.stack([a['pred_logits'] for a in out['aux_outputs']]),
        aux_boxes=torch.stack([a['pred_boxes'] for a in out['aux_outputs']]),
        enc_logits=out['interm_outputs']['pred_logits'],
        enc_boxes=out['interm_outputs']['pred_boxes'],
        detections=dict(scores=post[0]['scores'], labels=post[0]['labels'],
                        boxes=post[0]['boxes']))


def _detached(obj, half=False, memo=None):
    """Tensors detached (float16 with ``half``); tensors sharing memory stay shared."""
    memo = {} if memo is None else memo
    if isinstance(obj, torch.Tensor):
        key = (obj.untyped_storage().data_ptr(), obj.storage_offset(), tuple(obj.shape))
        if key not in memo:
            t = obj.detach().contiguous()
            memo[key] = t.half() if half and t.is_floating_point() else t
        return memo[key]
    if isinstance(obj, dict):
        return {k: _detached(v, half, memo) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_detached(v, half, memo) for v in obj]
    return obj


def make_case(authors, root, out_dir):
    torch.manual_seed(0)
    model, postprocessors, args = build_authors_dino(authors, root, TINY_DINO, TINY_BACKBONE)
    draw_weights(model, WEIGHT_SEED)
    x = torch.randn(1, 3, *INPUT_HW, generator=torch.Generator().manual_seed(INPUT_SEED))
    outputs = record(model, postprocessors, x)
    dino_settings = {k: getattr(args, k) for k in sorted(TINY_DINO)}
    dino_settings.update(num_classes=args.num_classes, hidden_dim=args.hidden_dim,
                         num_feature_levels=args.num_feature_levels,
                         return_interm_indices=list(args.return_interm_indices),
                         dn_labelbook_size=args.dn_labelbook_size)
    case = dict(
        # the layout of the authors' checkpoints (main.py saves {'model': ..., ...}); float16
        # holds the drawn values exactly (half the size; float32 again for use)
        checkpoint={'model': _detached(model.state_dict(), half=True)},
        input=x,
        backbone_config=dict(TINY_BACKBONE, out_indices=list(args.return_interm_indices)),
        dino_config=dino_settings,
        outputs=_detached(outputs),
        source=dict(repository='https://github.com/NVlabs/FasterViT', commit=COMMIT,
                    folder='downstream/object_detection/dino', config=RELEASED_CONFIG,
                    weight_seed=WEIGHT_SEED, input_seed=INPUT_SEED,
                    generator='tools/reference/make_dino_reference.py'),
    )
    path = os.path.join(out_dir, 'fastervit_dino_tiny.pt')
    torch.save(case, path)
    det = outputs['detections']
    log(f'wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB); top score '
        f'{det["scores"][0]:.4f} label {int(det["labels"][0])}')


def make_layout(authors, root, out_dir):
    log('building the released model at full size (about 2 GB) for its key layout ...')
    torch.manual_seed(0)
    model, _, _ = build_authors_dino(authors, root, {})
    layout = {k: list(v.shape) for k, v in model.state_dict().items()}
    path = os.path.join(out_dir, 'fastervit_dino_4_21k_224_layout.json')
    with open(path, 'w') as f:
        json.dump(dict(source=dict(commit=COMMIT, config=RELEASED_CONFIG), shapes=layout), f,
                  indent=0)
    log(f'wrote {path}: {len(layout)} keys, '
        f'{sum(math.prod(s) for s in layout.values()) / 1e6:.1f} M numbers')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dino', required=True,
                        help='downstream/object_detection/dino of the extracted FasterViT tree')
    parser.add_argument('--out', default='tests/data/downstream/dino')
    parser.add_argument('--allow-other-versions', action='store_true')
    parser.add_argument('--skip-layout', action='store_true',
                        help='do not build the full-size model')
    args = parser.parse_args()
    root = os.path.abspath(args.dino)
    check_sources(root, args.allow_other_versions)
    authors = import_authors(root)
    os.makedirs(args.out, exist_ok=True)
    make_case(authors, root, args.out)
    if not args.skip_layout:
        make_layout(authors, root, args.out)


if __name__ == '__main__':
    main()
