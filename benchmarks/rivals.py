"""The peers our backbones are measured against: mmdet's Swin-T and PVTv2-b2 and mmpretrain's
ConvNeXt-T, by name, beside our own (:data:`mmvitplug.utils.named_models.NAMED_BACKBONES`).

The benchmarks use them, and the repository's analysis tools (``tools/benchmark.py``,
``tools/get_flops.py``, ``tools/deployment/pytorch2onnx.py``) accept their names; they are no
part of the installed package. Building them needs mmdet and mmpretrain.
"""
from typing import Dict, Tuple

from mmvitplug.utils.named_models import NAMED_BACKBONES

SWIN_T = dict(type='SwinTransformer', embed_dims=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
              window_size=7, mlp_ratio=4, qkv_bias=True, drop_path_rate=0.2,
              out_indices=(0, 1, 2, 3), convert_weights=False)

# name -> (scope whose registry builds it, config)
RIVALS: Dict[str, Tuple[str, dict]] = {
    'Swin-T': ('mmdet', SWIN_T),
    'PVTv2-b2': ('mmdet', dict(type='PyramidVisionTransformerV2', embed_dims=64,
                               num_layers=[3, 4, 6, 3])),
    'ConvNeXt-T': ('mmpretrain', dict(type='ConvNeXt', arch='tiny', out_indices=(0, 1, 2, 3),
                                      gap_before_final_norm=False)),
}

#: every backbone the tools take by name: ours, then the rivals
NAMED: Dict[str, Tuple[str, dict]] = {**NAMED_BACKBONES, **RIVALS}
