"""Official LITv2 checkpoints (classification/models/litv2.py) -> mmvitplug keys."""
from typing import Dict

import torch

from .common import classifier_keys, image_classifier, refuse_unreleased, rename

# (official pattern, mmvitplug replacement), applied in order to each key.
_RENAMES = (
    (r'^layers\.(\d+)\.blocks\.', r'stages.\1.blocks.'),
    (r'\.attn\.l_q\.', '.attn.lofi_q.'),
    (r'\.attn\.l_kv\.', '.attn.lofi_kv.'),
    (r'\.attn\.l_proj\.', '.attn.lofi_proj.'),
    (r'\.attn\.h_qkv\.', '.attn.hifi_qkv.'),
    (r'\.attn\.h_proj\.', '.attn.hifi_proj.'),
    (r'\.mlp\.dwconv\.dwconv\.', '.ffn.dwconv.'),
    (r'\.mlp\.', '.ffn.'),
    (r'^layers\.(\d+)\.downsample\.dconv\.conv_offset\.', r'stages.\1.downsample.conv_offset.'),
    (r'^layers\.(\d+)\.downsample\.dconv\.', r'stages.\1.downsample.'),
    (r'^layers\.(\d+)\.downsample\.norm_layer\.', r'stages.\1.downsample.norm.'),
    (r'^norm\.', 'norm3.'),
)


def convert_backbone_key(key: str) -> str:
    """Official key -> key of :class:`mmvitplug.models.LITv2` (without ``backbone.``)."""
    return rename(key, _RENAMES)


def official_to_mmpretrain(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return classifier_keys(state_dict, convert_backbone_key)


def official_classifier_cfg(config: dict) -> dict:
    """ImageClassifier config equal to the official ``LITv2(**config)``."""
    # Options of the official constructor that no released model changes.
    refuse_unreleased('LITv2', config, (('ape', False), ('patch_norm', True),
                                        ('patch_size', 4), ('qk_scale', None)))
    embed = config['embed_dim']
    has_msa = config.get('has_msa', (0, 0, 1, 1))
    backbone = dict(
        type='LITv2',
        arch=dict(
            embed_dims=embed,
            depths=tuple(config['depths']),
            num_heads=tuple(config['num_heads']),
            mlp_ratio=config.get('mlp_ratio', 4.0),
            attention_stages=tuple(bool(m) for m in has_msa)),
        in_channels=config.get('in_chans', 3),
        alpha=config.get('alpha', 0.9),
        local_ws=tuple(config.get('local_ws', (0, 0, 2, 1))),
        qkv_bias=config.get('qkv_bias', True),
        drop_path_rate=config.get('drop_path_rate', 0.0),
        out_indices=(3, ))
    return image_classifier(backbone, config.get('num_classes', 1000), embed * 8)


def infer_config(state_dict: Dict[str, torch.Tensor]) -> dict:
    """Official constructor kwargs of a released variant, recognised from its key layout."""
    from mmvitplug.models.backbones.litv2 import LITv2

    embed = state_dict['patch_embed.proj.weight'].shape[0]
    depths = [
        len({k.split('.')[3] for k in state_dict if k.startswith(f'layers.{i}.blocks.')})
        for i in range(4)
    ]
    for name, zoo in LITv2.arch_zoo.items():
        if zoo['embed_dims'] == embed and list(zoo['depths']) == depths:
            config = dict(embed_dim=embed, depths=depths, num_heads=list(zoo['num_heads']),
                          mlp_ratio=4.0, alpha=0.9, local_ws=[0, 0, 2, 1], has_msa=[0, 0, 1, 1],
                          num_classes=state_dict['head.weight'].shape[0])
            return dict(arch=name, config=config)
    raise ValueError(f'not a released LITv2 layout (embed_dim {embed}, depths {depths}); pass the '
                     'official constructor kwargs explicitly')
