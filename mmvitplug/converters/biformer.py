"""Official BiFormer checkpoints and constructor kwargs (rayleizhu/BiFormer, models/biformer.py
with the legacy BRA, and the dense ``BiFormer_mm`` of its detectors and segmentors) ->
mmvitplug."""
from typing import Dict

import torch

from .common import (IN_CHANNELS, NUM_CLASSES, FamilyConverter, Option, arch_option, as_list,
                     no_effect, released_only)


class BiFormerConverter(FamilyConverter):
    family = 'biformer'
    backbone_type = 'BiFormer'
    # (official pattern, mmvitplug replacement), applied in order to each key.
    key_renames = (
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
        (r'\.mlp\.1\.dwconv\.', '.mlp.dwconv.'),  # mlp_dwconv=True
        (r'\.mlp\.3\.', '.mlp.fc2.'),
        (r'^norm\.', 'norm3.'),
    )
    signature_keys = ('downsample_layers.0.0.weight', 'stages.0.0.norm1.weight')
    # object_detection/ and semantic_segmentation/ models_mm/biformer_mm.py: the classifier
    # without its head and final norm, four fresh LayerNorm2d output norms.
    dense_class = 'BiFormer_mm'
    dense_key_renames = ((r'^extra_norms\.(\d)\.', r'norm\1.'), )
    dense_options = (
        no_effect('pretrained', None),  # loading: the config's init_cfg
        # Training-time BatchNorm handling: the config's norm_eval / frozen parameters.
        no_effect('norm_eval', True),
        no_effect('disable_bn_grad', False),
    )
    options = (
        arch_option('depth', [3, 4, 8, 3], 'depths', to_ours=tuple, to_official=list),
        Option('in_chans', 3, IN_CHANNELS),
        Option('num_classes', 1000, NUM_CLASSES),
        arch_option('embed_dim', [64, 128, 320, 512], 'embed_dims', to_ours=tuple,
                    to_official=list),
        arch_option('head_dim', 64),
        released_only('qk_scale', None),
        released_only('representation_size', None),
        arch_option('drop_path_rate', 0.0),
        released_only('drop_rate', 0.0),
        no_effect('use_checkpoint_stages', []),  # memory only: mmvitplug's with_cp
        arch_option('n_win', 7),
        released_only('kv_downsample_mode', 'ada_avgpool', implemented='identity'),
        # Read only by the key/value downsampling modes other than 'identity'.
        no_effect('kv_per_wins', [2, 2, -1, -1]),
        no_effect('kv_downsample_kernels', [4, 2, 1, 1]),
        no_effect('kv_downsample_ratios', [4, 2, 1, 1]),
        arch_option('topks', [8, 8, -1, -1], to_ours=tuple, to_official=list),
        arch_option('side_dwconv', 5),
        arch_option('layer_scale_init_value', -1, 'layer_scale',
                    to_ours=lambda v: v if v > 0 else None,
                    to_official=lambda v: -1 if v is None else v),
        arch_option('qk_dims', [None] * 4, to_ours=tuple, to_official=as_list),
        released_only('param_routing', False),
        released_only('diff_routing', False),
        released_only('soft_routing', False),
        released_only('pre_norm', True),
        released_only('pe', None),
        no_effect('pe_stages', [0]),  # read only with a pe
        arch_option('before_attn_dwconv', 3),
        # mmvitplug always pads maps to whole regions as auto_pad does, which changes nothing
        # where no padding is needed (and without auto_pad the official model needs none).
        no_effect('auto_pad', False),
        arch_option('mlp_ratios', [4, 4, 4, 4], to_ours=tuple, to_official=list),
        released_only('param_attention', 'qkvo'),
        arch_option('mlp_dwconv', False),
    )

    def layout(self, settings: dict) -> tuple:
        return settings['embed_dims'], settings['depths']

    def layout_of(self, state_dict: Dict[str, torch.Tensor]) -> tuple:
        def depth(i: int) -> int:
            return len({k.split('.')[2] for k in state_dict if k.startswith(f'stages.{i}.')})

        return (tuple(state_dict[f'stages.{i}.0.norm1.weight'].shape[0] for i in range(4)),
                tuple(depth(i) for i in range(4)))


CONVERTER = BiFormerConverter()
