"""Official FasterViT checkpoints (fastervit/models/faster_vit.py) -> mmvitplug keys."""
import re
from typing import Dict

import torch

from .common import classifier_keys, image_classifier, refuse_unreleased

# Buffers the official model keeps but mmvitplug recomputes from the input geometry.
_GEOMETRY_BUFFERS = ('.relative_bias', '.relative_coords_table', '.relative_position_index')
# The carrier-token initialiser's conv is registered twice in the official model.
_DUPLICATE = re.compile(r'^levels\.(\d+)\.global_tokenizer\.to_global_feature\.pos\.')

_BLOCK_PARTS = {
    'hat_pos_embed': 'carrier.pos_embed',
    'hat_norm1': 'carrier.norm1',
    'hat_norm2': 'carrier.norm2',
    'hat_attn': 'carrier.attn',
    'hat_mlp': 'carrier.mlp',
    'gamma1': 'carrier.gamma1',
    'gamma2': 'carrier.gamma2',
    'gamma3': 'gamma1',
    'gamma4': 'gamma2',
}
_BLOCK = re.compile(r'^(levels\.\d+\.blocks\.\d+\.)(' + '|'.join(_BLOCK_PARTS) + r')\b')


def convert_backbone_key(key: str) -> str:
    """Official key -> key of :class:`mmvitplug.models.FasterViT` (without ``backbone.``)."""
    key = _BLOCK.sub(lambda m: m.group(1) + _BLOCK_PARTS[m.group(2)], key)
    key = key.replace('.pos_emb_funct.', '.pos_bias.')
    key = re.sub(r'^patch_embed\.conv_down\.', 'patch_embed.', key)
    key = re.sub(r'\.global_tokenizer\.pos_embed\.', '.carrier_init.pos_embed.', key)
    key = re.sub(r'\.downsample\.reduction\.0\.', '.downsample.reduction.', key)
    key = re.sub(r'^levels\.', 'stages.', key)
    return re.sub(r'^norm\.', 'norm3.', key)


def official_to_mmpretrain(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    kept = {}
    for key, value in state_dict.items():
        if key.endswith(_GEOMETRY_BUFFERS):
            continue
        duplicate = _DUPLICATE.match(key)
        if duplicate:
            original = f'levels.{duplicate.group(1)}.global_tokenizer.pos_embed.' + \
                key[duplicate.end():]
            if (original in state_dict and not value.is_meta
                    and not torch.equal(state_dict[original], value)):
                raise ValueError(f'{key} differs from {original}; they are one module in the '
                                 'official model, so this is not an official checkpoint')
            continue
        kept[key] = value
    return classifier_keys(kept, convert_backbone_key)


# Official constructor options every released model leaves at these values.
_RELEASED_ONLY = (('qk_scale', None), ('drop_rate', 0.0), ('attn_drop_rate', 0.0),
                  ('layer_scale_conv', None), ('layer_norm_last', False))


def official_classifier_cfg(config: dict) -> dict:
    """ImageClassifier config equal to the official ``FasterViT(**config)``.

    ``resolution`` is dropped: mmvitplug computes all geometry from the input.
    """
    refuse_unreleased('FasterViT', config, _RELEASED_ONLY)
    dim = config['dim']
    hat = config.get('hat', [False, False, True, False])
    if hat is None:  # the official constructor's "everywhere"; conv stages ignore it
        hat = [True] * 4
    windows = config['window_size']
    backbone = dict(
        type='FasterViT',
        arch=dict(
            dim=dim,
            in_dim=config['in_dim'],
            depths=tuple(config['depths']),
            num_heads=tuple(config['num_heads']),
            mlp_ratio=config['mlp_ratio'],
            layer_scale=config.get('layer_scale'),
        ),
        in_channels=config.get('in_chans', 3),
        window_size=tuple(windows) if not isinstance(windows, int) else windows,
        ct_size=config['ct_size'],
        hat=(False, False) + tuple(bool(h) for h in hat[2:]),
        do_propagation=bool(config.get('do_propagation', False)),
        qkv_bias=config.get('qkv_bias', True),
        drop_path_rate=config.get('drop_path_rate', 0.2),
        out_indices=(3, ))
    return image_classifier(backbone, config.get('num_classes', 1000), dim * 8)


def infer_config(state_dict: Dict[str, torch.Tensor]) -> dict:
    """Official constructor kwargs of a released variant, recognised from its key layout
    (widths, depths, heads, layer scale, HAT stages and, from the geometry buffers where the
    file has them, window sizes)."""
    from mmvitplug.models.backbones.fastervit import FasterViT

    def count(prefix: str) -> int:
        return len({k[len(prefix):].split('.')[0] for k in state_dict if k.startswith(prefix)})

    dim = state_dict['patch_embed.conv_down.3.weight'].shape[0]
    in_dim = state_dict['patch_embed.conv_down.0.weight'].shape[0]
    depths = tuple(count(f'levels.{i}.blocks.') for i in range(4))
    heads = tuple(
        state_dict[f'levels.{i}.blocks.0.attn.pos_emb_funct.cpb_mlp.2.weight'].shape[0]
        for i in (2, 3))
    hat = tuple(f'levels.{i}.blocks.0.hat_attn.qkv.weight' in state_dict for i in range(4))
    layer_scale = 'levels.2.blocks.0.gamma3' in state_dict
    windows = tuple(
        (state_dict[k].shape[1] + 1) // 2 if k in state_dict else None
        for k in (f'levels.{i}.blocks.0.attn.pos_emb_funct.relative_coords_table'
                  for i in (2, 3)))
    for name, zoo in FasterViT.arch_zoo.items():
        if (zoo['dim'], zoo['in_dim'], tuple(zoo['depths']), tuple(zoo['num_heads'][2:]),
                tuple(zoo['hat']), zoo['layer_scale'] is not None) != (
                    dim, in_dim, depths, heads, hat, layer_scale):
            continue
        if any(w is not None and w != z for w, z in zip(windows, zoo['window_size'][2:])):
            continue
        config = dict(dim=dim, in_dim=in_dim, depths=list(depths),
                      num_heads=list(zoo['num_heads']), window_size=list(zoo['window_size']),
                      ct_size=zoo['ct_size'], mlp_ratio=zoo['mlp_ratio'], resolution=224,
                      drop_path_rate=zoo['drop_path_rate'], layer_scale=zoo['layer_scale'],
                      hat=list(zoo['hat']), do_propagation=zoo['do_propagation'],
                      num_classes=state_dict['head.weight'].shape[0])
        return dict(arch=name, config=config)
    raise ValueError(f'not a released FasterViT layout (dim {dim}, in_dim {in_dim}, depths '
                     f'{depths}, heads {heads}, hat {hat}, windows {windows}); pass the official '
                     'constructor kwargs explicitly')
