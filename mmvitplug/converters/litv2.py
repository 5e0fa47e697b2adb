"""Official LITv2 checkpoints and constructor kwargs (ziplab/LITv2,
classification/models/litv2.py, and the detection and segmentation backbones) -> mmvitplug."""
from typing import Dict, Optional, Sequence

import torch

from .common import (IN_CHANNELS, NUM_CLASSES, FamilyConverter, Option, arch_option, as_list,
                     doubling, no_effect, released_only, uniform)


def _local_ws(value: Optional[Sequence[int]]) -> tuple:
    if value is None:
        raise ValueError("local_ws=None: the official LITv2 constructor needs one window size "
                         "per stage (e.g. [0, 0, 2, 1])")
    return tuple(value)


class LITv2Converter(FamilyConverter):
    family = 'litv2'
    backbone_type = 'LITv2'
    # (official pattern, mmvitplug replacement), applied in order to each key.
    key_renames = (
        (r'^layers\.(\d+)\.blocks\.', r'stages.\1.blocks.'),
        (r'\.attn\.l_q\.', '.attn.lofi_q.'),
        (r'\.attn\.l_kv\.', '.attn.lofi_kv.'),
        (r'\.attn\.l_proj\.', '.attn.lofi_proj.'),
        (r'\.attn\.h_qkv\.', '.attn.hifi_qkv.'),
        (r'\.attn\.h_proj\.', '.attn.hifi_proj.'),
        (r'\.mlp\.dwconv\.dwconv\.', '.mlp.dwconv.'),
        (r'^layers\.(\d+)\.downsample\.dconv\.conv_offset\.', r'stages.\1.downsample.conv_offset.'),
        (r'^layers\.(\d+)\.downsample\.dconv\.', r'stages.\1.downsample.'),
        (r'^layers\.(\d+)\.downsample\.norm_layer\.', r'stages.\1.downsample.norm.'),
        (r'^norm\.', 'norm3.'),
    )
    signature_keys = ('patch_embed.proj.weight', 'layers.0.blocks.0.norm2.weight')
    # detection/mmdet/models/backbones/litv2.py (fresh LayerNorms norm1-norm3) and
    # segmentation/mmseg/models/backbones/litv2.py (norm0-norm3): their keys are ours.
    dense_class = 'LITv2 (detection/segmentation backbone)'
    dense_options = (
        no_effect('pretrain_img_size', 224),  # all geometry is computed from the input
        no_effect('window_size', 7),  # HiLo's windows are local_ws
        no_effect('out_indices', (0, 1, 2, 3)),  # which outputs: the config's out_indices
        no_effect('frozen_stages', -1),  # training only: the config's frozen_stages
        no_effect('pretrained', None),  # loading: the config's init_cfg
        no_effect('init_cfg', None),
    )
    options = (
        no_effect('img_size', 224),  # all geometry is computed from the input
        released_only('patch_size', 4),  # strides 4/8/16/32
        Option('in_chans', 3, IN_CHANNELS),
        Option('num_classes', 1000, NUM_CLASSES),
        arch_option('embed_dim', 96, 'embed_dims', to_official=doubling),
        arch_option('depths', [2, 2, 6, 2], to_ours=tuple, to_official=list),
        arch_option('num_heads', [3, 6, 12, 24], to_ours=tuple, to_official=list),
        arch_option('mlp_ratio', 4.0, 'mlp_ratios', to_official=uniform('mlp_ratio')),
        arch_option('qkv_bias', True),
        released_only('qk_scale', None),
        released_only('drop_rate', 0.0),
        released_only('attn_drop_rate', 0.0),
        arch_option('drop_path_rate', 0.1),
        released_only('ape', False),
        arch_option('patch_norm', True),
        no_effect('use_checkpoint', False),  # memory only: mmvitplug's with_cp
        arch_option('has_msa', [0, 0, 1, 1], 'attention_stages',
                    to_ours=lambda v: tuple(bool(m) for m in v),
                    to_official=lambda v: [int(m) for m in v]),
        arch_option('alpha', 0.5),
        arch_option('local_ws', None, to_ours=_local_ws, to_official=as_list),
    )

    def layout(self, settings: dict) -> tuple:
        return settings['embed_dims'][0], settings['depths']

    def layout_of(self, state_dict: Dict[str, torch.Tensor]) -> tuple:
        def depth(i: int) -> int:
            return len({k.split('.')[3] for k in state_dict if k.startswith(f'layers.{i}.blocks.')})

        return (state_dict['patch_embed.proj.weight'].shape[0], tuple(depth(i) for i in range(4)))


CONVERTER = LITv2Converter()
