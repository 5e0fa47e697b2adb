"""Official FasterViT checkpoints and constructor kwargs (NVlabs/FasterViT,
fastervit/models/faster_vit.py; the dense backbone of their DINO detector,
downstream/object_detection/dino/models/dino/fastervit.py) -> mmvitplug."""
import re
from typing import Dict

import torch

from .common import (IN_CHANNELS, NUM_CLASSES, REQUIRED, FamilyConverter, Option, arch_option,
                     as_list, doubling, no_effect, released_only, uniform)

_BLOCK = r'^(levels\.\d+\.blocks\.\d+\.)'
# The carrier-token initialiser's conv is registered twice in the official model.
_DUPLICATE = re.compile(r'^levels\.(\d+)\.global_tokenizer\.to_global_feature\.pos\.')


def _hat(hat) -> tuple:
    """The official ``hat`` (None: every stage) as mmvitplug's: the conv stages never."""
    hat = [True] * 4 if hat is None else hat
    return tuple(i >= 2 and bool(h) for i, h in enumerate(hat))


class FasterViTConverter(FamilyConverter):
    family = 'fastervit'
    backbone_type = 'FasterViT'
    # (official pattern, mmvitplug replacement), applied in order to each key.
    key_renames = (
        # HAT blocks: the carrier-token half (hat_*, gamma1/2), then the window half (gamma3/4).
        (_BLOCK + r'hat_(pos_embed|norm1|norm2|attn|mlp)\.', r'\1carrier.\2.'),
        (_BLOCK + r'gamma([12])$', r'\1carrier.gamma\2'),
        (_BLOCK + r'gamma3$', r'\1gamma1'),
        (_BLOCK + r'gamma4$', r'\1gamma2'),
        (r'\.pos_emb_funct\.', '.pos_bias.'),
        (r'^patch_embed\.conv_down\.', 'patch_embed.'),
        (r'\.global_tokenizer\.pos_embed\.', '.carrier_init.pos_embed.'),
        (r'\.downsample\.reduction\.0\.', '.downsample.reduction.'),
        (r'^levels\.', 'stages.'),
        (r'^norm\.', 'norm3.'),
    )
    signature_keys = ('patch_embed.conv_down.0.weight', 'levels.0.blocks.0.conv1.weight')
    dense_class = 'FasterViT (DINO detection backbone)'
    dense_options = (
        no_effect('out_indices', (0, 1, 2, 3)),  # output norms are read from the keys
        no_effect('frozen_stages', -1),
        no_effect('norm_layer', None),
        no_effect('use_checkpoint', False),  # accepted and unused by the authors' class
    )
    # It zero-pads every stage's map to whole windows and lets the padded tokens take part, and
    # scales the window position MLP's coordinates by the window's token count.
    dense_settings = dict(window_padding='zeros', grid_scale='tokens')
    # Geometry buffers recomputed from the input here, and the duplicate of the carrier conv.
    dropped_keys = (r'\.relative_bias$', r'\.relative_coords_table$',
                    r'\.relative_position_index$', _DUPLICATE.pattern)
    options = (
        arch_option('dim', REQUIRED, 'embed_dims', to_official=doubling),
        arch_option('in_dim', REQUIRED),
        arch_option('depths', REQUIRED, to_ours=tuple, to_official=list),
        arch_option('window_size', REQUIRED, to_ours=tuple, to_official=list),
        arch_option('ct_size', REQUIRED),
        arch_option('mlp_ratio', REQUIRED, 'mlp_ratios', to_official=uniform('mlp_ratio')),
        arch_option('num_heads', REQUIRED, to_ours=tuple, to_official=list),
        no_effect('resolution', 224),  # all geometry is computed from the input
        arch_option('drop_path_rate', 0.2),
        Option('in_chans', 3, IN_CHANNELS),
        Option('num_classes', 1000, NUM_CLASSES),
        arch_option('qkv_bias', True),
        released_only('qk_scale', None),
        released_only('drop_rate', 0.0),
        released_only('attn_drop_rate', 0.0),
        arch_option('layer_scale', None),
        arch_option('layer_scale_conv', None),
        arch_option('layer_norm_last', False),
        arch_option('hat', [False, False, True, False], to_ours=_hat, to_official=as_list),
        arch_option('do_propagation', False, to_ours=bool),
    )

    def official_to_mmpretrain(self,
                               state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        for key, value in state_dict.items():
            duplicate = _DUPLICATE.match(key)
            if duplicate:
                original = (f'levels.{duplicate.group(1)}.global_tokenizer.pos_embed.' +
                            key[duplicate.end():])
                if (original in state_dict and not value.is_meta
                        and not torch.equal(state_dict[original], value)):
                    raise ValueError(f'{key} differs from {original}; they are one module in '
                                     'the official model, so this is not an official checkpoint')
        return super().official_to_mmpretrain(state_dict)

    def layout(self, settings: dict) -> tuple:
        return (settings['embed_dims'][0], settings['in_dim'], settings['depths'],
                settings['num_heads'][2:], settings['hat'], settings['layer_scale'] is not None,
                settings['layer_scale_conv'] is not None, settings['window_size'][2:])

    def layout_of(self, state_dict: Dict[str, torch.Tensor]) -> tuple:
        """Widths, depths, heads, HAT stages, layer scales and, from the geometry buffers where
        the file has them, the window sizes of the attention stages."""
        def count(prefix: str) -> int:
            return len({k[len(prefix):].split('.')[0] for k in state_dict if k.startswith(prefix)})

        tables = [state_dict.get(f'levels.{i}.blocks.0.attn.pos_emb_funct.relative_coords_table')
                  for i in (2, 3)]
        windows = None if None in tables else tuple((t.shape[1] + 1) // 2 for t in tables)
        return (state_dict['patch_embed.conv_down.3.weight'].shape[0],
                state_dict['patch_embed.conv_down.0.weight'].shape[0],
                tuple(count(f'levels.{i}.blocks.') for i in range(4)),
                tuple(state_dict[f'levels.{i}.blocks.0.attn.pos_emb_funct.cpb_mlp.2.weight']
                      .shape[0] for i in (2, 3)),
                tuple(f'levels.{i}.blocks.0.hat_attn.qkv.weight' in state_dict for i in range(4)),
                'levels.2.blocks.0.gamma3' in state_dict,
                'levels.0.blocks.0.gamma' in state_dict,
                windows)


CONVERTER = FasterViTConverter()
