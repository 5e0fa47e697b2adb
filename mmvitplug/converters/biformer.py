"""Official BiFormer checkpoints (models/biformer.py, legacy BRA) -> mmvitplug keys."""
from typing import Dict

import torch

from .common import classifier_keys, image_classifier, refuse_unreleased, rename

# (official pattern, mmvitplug replacement), applied in order to each key.
_RENAMES = (
    (r'^downsample_layers\.0\.0\.', 'patch_embed.0.0.'),
    (r'^downsample_layers\.0\.1\.', 'patch_embed.0.1.'),
    (r'^downsample_layers\.0\.3\.', 'patch_embed.1.0.'),
    (r'^downsample_layers\.0\.4\.', 'patch_embed.1.1.'),
    (r'^downsample_layers\.([123])\.',
     lambda m: f'stages.{int(m.group(1)) - 1}.downsample.'),
    (r'^stages\.(\d+)\.(\d+)\.', r'stages.\1.blocks.\2.'),
    (r'\.attn\.qkv\.qkv\.', '.attn.qkv.'),
    (r'\.attn\.wo\.', '.attn.proj.'),
    (r'\.mlp\.0\.', '.mlp.fc1.'),
    (r'\.mlp\.3\.', '.mlp.fc2.'),
    (r'^norm\.', 'norm3.'),
)

# Official constructor options every released model leaves at these values.
_RELEASED_ONLY = (('kv_downsample_mode', 'identity'), ('param_routing', False),
                  ('diff_routing', False), ('soft_routing', False), ('pre_norm', True),
                  ('pe', None), ('before_attn_dwconv', 3), ('side_dwconv', 5),
                  ('layer_scale_init_value', -1), ('qk_scale', None),
                  ('representation_size', None), ('drop_rate', 0.0), ('param_attention', 'qkvo'),
                  ('mlp_dwconv', False))


def convert_backbone_key(key: str) -> str:
    """Official key -> key of :class:`mmvitplug.models.BiFormer` (without ``backbone.``)."""
    return rename(key, _RENAMES)


def official_to_mmpretrain(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return classifier_keys(state_dict, convert_backbone_key)


def official_classifier_cfg(config: dict) -> dict:
    """ImageClassifier config equal to the official ``BiFormer(**config)``.

    ``auto_pad`` is dropped: mmvitplug always pads maps to whole regions as the authors'
    ``auto_pad`` does, which changes nothing where no padding is needed.
    """
    refuse_unreleased('BiFormer', config, _RELEASED_ONLY)
    dims = tuple(config['embed_dim'])
    qk_dims = tuple(q or d for q, d in zip(config.get('qk_dims', (None, ) * 4), dims))
    ratios = set(config.get('mlp_ratios', (4, ) * 4))
    if len(ratios) != 1:
        raise ValueError(f"mmvitplug BiFormer uses one mlp ratio for all stages (as every "
                         f"released model), got {config['mlp_ratios']}")
    backbone = dict(
        type='BiFormer',
        arch=dict(
            embed_dims=dims,
            depths=tuple(config['depth']),
            qk_dims=qk_dims,
            topks=tuple(config['topks']),
            head_dim=config.get('head_dim', 64),
            mlp_ratio=float(ratios.pop())),
        in_channels=config.get('in_chans', 3),
        n_win=config.get('n_win', 7),
        drop_path_rate=config.get('drop_path_rate', 0.0),
        out_indices=(3, ))
    return image_classifier(backbone, config.get('num_classes', 1000), dims[-1])


def infer_config(state_dict: Dict[str, torch.Tensor]) -> dict:
    """Official constructor kwargs of a released variant, recognised from its key layout."""
    from mmvitplug.models.backbones.biformer import BiFormer

    dims = tuple(state_dict[f'stages.{i}.0.pos_embed.weight'].shape[0] for i in range(4))
    depths = tuple(
        len({k.split('.')[2] for k in state_dict if k.startswith(f'stages.{i}.')})
        for i in range(4))
    for name, zoo in BiFormer.arch_zoo.items():
        if tuple(zoo['embed_dims']) == dims and tuple(zoo['depths']) == depths:
            config = dict(depth=list(depths), embed_dim=list(dims), qk_dims=list(dims),
                          mlp_ratios=[zoo['mlp_ratio']] * 4, head_dim=zoo['head_dim'],
                          n_win=7, kv_downsample_mode='identity', kv_per_wins=[-1] * 4,
                          topks=list(zoo['topks']), side_dwconv=5, before_attn_dwconv=3,
                          layer_scale_init_value=-1, drop_path_rate=zoo['drop_path_rate'],
                          num_classes=state_dict['head.weight'].shape[0])
            return dict(arch=name, config=config)
    raise ValueError(f'not a released BiFormer layout (embed_dim {dims}, depth {depths}); pass '
                     'the official constructor kwargs explicitly')
