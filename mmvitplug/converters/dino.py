"""The authors' DINO detector (IDEA-Research's layout: FasterViT's release) -> mmdet's DINO.

FasterViT's released detector was trained with the authors' fork of IDEA-Research's DINO
(NVlabs/FasterViT ``downstream/object_detection/dino``), whose ``main.py`` saves
``{'model': state_dict, ...}`` with IDEA's module names: ``backbone.0.*`` (the authors' dense
FasterViT), ``input_proj.*``, ``transformer.*``, ``class_embed.*``, ``bbox_embed.*`` and
``label_enc.*``. mmdet 3.x's ``DINO`` is the same detector under other names; :data:`RENAMES`
is the table between them. Beyond names:

* Classes: IDEA's class layers have a row per COCO category *id* (``num_classes=91``: ids 1-90,
  eleven of them unused, and row 0), its denoising label embedding one more
  (``dn_labelbook_size + 1``); mmdet's have a row per class (80). The rows of the 80 category
  ids (:data:`COCO_CATEGORY_IDS`, which is also mmdet's class order) are taken.
* IDEA shares one class layer and one box MLP among the decoder layers (``dec_pred_*_share``) and
  keeps second references to them in the decoder (dropped after checking they are the same);
  mmdet's ``DINOHead`` has a layer per decoder layer, each given the shared weights: the same
  function; fine-tuning in mmdet then trains them apart.
* The decoder layer's norms: IDEA names them by creation (``norm1`` after cross-attention,
  ``norm2`` after self-attention, ``norm3`` after the FFN), mmdet by use (self, cross, FFN).
* Input projections: conv (with a bias) + GroupNorm, mmdet's ``ChannelMapper(bias=True)``.
"""
import re
from typing import Dict, List, Optional, Tuple

import torch

from .common import FamilyConverter, rename
from .downstream import BACKBONE, DownstreamModel, Task, describe_backbone, out_norms_of

TASK = Task('dino', 'DINO', 'mmdet', 'transformer.tgt_embed.weight', 'dino-4scale_')

#: keys only IDEA-Research DINO checkpoints have
MARKERS = ('transformer.tgt_embed.weight', 'transformer.decoder.ref_point_head.layers.0.weight')
#: where IDEA's ``Joiner`` keeps the backbone: the model itself (FasterViT's fork), or a
#: torchvision ``IntermediateLayerGetter`` (IDEA's ResNets)
BACKBONE_PREFIXES = ('backbone.0.body.', 'backbone.0.')

#: COCO's 80 category ids, in category order (= the order of mmdet's COCO classes)
COCO_CATEGORY_IDS = (tuple(range(1, 12)) + tuple(range(13, 26)) + (27, 28) +
                     tuple(range(31, 45)) + tuple(range(46, 66)) + (67, 70) +
                     tuple(range(72, 83)) + tuple(range(84, 91)))
#: IDEA's decoder norms -> mmdet's ``norms.i`` (order of use: self-attn, cross-attn, FFN)
DECODER_NORMS = {'1': 1, '2': 0, '3': 2}
#: IDEA's decoder keeps references to the shared prediction layers: (its key, the owner's)
SHARED = ((r'^transformer\.decoder\.class_embed\.', 'class_embed.'),
          (r'^transformer\.decoder\.bbox_embed\.', 'bbox_embed.'))

#: IDEA key -> mmdet key, applied in order; ``{dec}`` is the number of decoder layers (the
#: encoder's prediction layers are mmdet's last branch) and ``{ins}`` the number of backbone
#: maps (further input projections are ChannelMapper's extra convs).
RENAMES = (
    (r'^transformer\.level_embed$', 'level_embed'),
    (r'^transformer\.tgt_embed\.', 'query_embedding.'),
    (r'^transformer\.enc_output\.', 'memory_trans_fc.'),
    (r'^transformer\.enc_output_norm\.', 'memory_trans_norm.'),
    (r'^transformer\.enc_out_class_embed\.', 'bbox_head.cls_branches.{dec}.'),
    (r'^transformer\.enc_out_bbox_embed\.', 'bbox_head.reg_branches.{dec}.'),
    (r'^class_embed\.', 'bbox_head.cls_branches.'),
    (r'^bbox_embed\.', 'bbox_head.reg_branches.'),
    # IDEA's MLP (Linear, ReLU between) as mmdet's Sequential(Linear, ReLU, Linear, ReLU, Linear)
    (r'^(bbox_head\.reg_branches\.\d+\.)layers\.(\d)\.', lambda m: f'{m[1]}{2 * int(m[2])}.'),
    (r'^label_enc\.', 'dn_query_generator.label_embedding.'),
    (r'^transformer\.(encoder|decoder)\.', r'\1.'),
    (r'^(encoder\.layers\.\d+\.)norm([12])\.', lambda m: f'{m[1]}norms.{int(m[2]) - 1}.'),
    (r'^(decoder\.layers\.\d+\.)norm([123])\.', lambda m: f'{m[1]}norms.{DECODER_NORMS[m[2]]}.'),
    (r'^((?:en|de)coder\.layers\.\d+\.)linear1\.', r'\1ffn.layers.0.0.'),
    (r'^((?:en|de)coder\.layers\.\d+\.)linear2\.', r'\1ffn.layers.1.'),
    (r'^(decoder\.layers\.\d+\.self_attn\.)', r'\1attn.'),  # mmcv wraps nn.MultiheadAttention
    (r'^input_proj\.(\d+)\.([01])\.', 'input_proj'),  # see _input_proj
)
#: mmdet keys the table produces (anything else is a key it could not place)
PLACED = re.compile(r'^(level_embed$|query_embedding\.|memory_trans_|bbox_head\.|'
                    r'dn_query_generator\.|encoder\.layers\.|decoder\.(layers|norm|ref_point_head)'
                    r'\.|neck\.)')


def is_idea_dino(state_dict: Dict[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` is an IDEA-Research DINO detector's."""
    return all(k in state_dict for k in MARKERS)


def _backbone_prefix(state_dict: Dict[str, torch.Tensor]) -> str:
    return next((p for p in BACKBONE_PREFIXES if any(k.startswith(p) for k in state_dict)),
                BACKBONE_PREFIXES[-1])


def _count(state_dict: Dict[str, torch.Tensor], prefix: str) -> int:
    return len({k[len(prefix):].split('.')[0] for k in state_dict if k.startswith(prefix)})


def _renames(num_decoder_layers: int, num_inputs: int) -> tuple:
    def input_proj(m: re.Match) -> str:
        index, part = int(m[1]), ('conv', 'gn')[int(m[2])]
        if index < num_inputs:
            return f'neck.convs.{index}.{part}.'
        return f'neck.extra_convs.{index - num_inputs}.{part}.'

    table = []
    for pattern, repl in RENAMES:
        if repl == 'input_proj':
            repl = input_proj
        elif isinstance(repl, str):
            repl = repl.replace('{dec}', str(num_decoder_layers))
        table.append((pattern, repl))
    return tuple(table)


def _shared_copies(state_dict: Dict[str, torch.Tensor]) -> List[str]:
    """IDEA's decoder's references to the shared prediction layers (to drop), checked to be
    the very weights of ``class_embed`` / ``bbox_embed``."""
    copies = []
    for key, value in state_dict.items():
        for pattern, owner in SHARED:
            found = re.match(pattern, key)
            if found:
                original = owner + key[found.end():]
                if original not in state_dict or (
                        not value.is_meta and not torch.equal(state_dict[original], value)):
                    raise ValueError(f'{key} is not a copy of {original}: in IDEA\'s DINO they '
                                     'are one module, so this is not its checkpoint')
                copies.append(key)
    return copies


def convert_idea_dino(converter: FamilyConverter, state_dict: Dict[str, torch.Tensor],
                      official_config: Optional[dict] = None) -> DownstreamModel:
    """Rename an IDEA-Research DINO ``state_dict`` with ``converter``'s family as backbone to
    mmdet DINO keys (class rows are fitted to the target by :func:`fit_classes`).

    Raises:
        ValueError: the backbone is not the family's, or keys the table cannot place (both
            named in the message).
    """
    prefix = _backbone_prefix(state_dict)
    backbone = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not converter.is_official(backbone):
        raise ValueError(f"a DINO detector whose backbone is not the authors' "
                         f'{converter.backbone_type}: '
                         f'{describe_backbone(backbone, converter, prefix)}')
    copies = set(_shared_copies(state_dict))
    num_inputs = sum(1 for i in range(_count(state_dict, 'input_proj.'))
                     if state_dict[f'input_proj.{i}.0.weight'].shape[-1] == 1)
    table = _renames(_count(state_dict, 'transformer.decoder.layers.'), num_inputs)
    converted, unplaced = {}, []
    for key, value in state_dict.items():
        if key in copies:
            continue
        if key.startswith(prefix):
            inner = key[len(prefix):]
            if any(re.search(p, inner) for p in converter.dropped_keys):
                continue
            converted[BACKBONE + converter.convert_backbone_key(inner, dense=True)] = value
            continue
        new = rename(key, table)
        if not PLACED.match(new):
            unplaced.append(key)
        converted[new] = value
    if unplaced:
        raise ValueError(f'{len(unplaced)} keys of this DINO checkpoint have no place in mmdet\'s '
                         'DINO (a DINO variant it does not implement?): ' +
                         ', '.join(unplaced[:10]) + (' ...' if len(unplaced) > 10 else ''))
    arch, settings = None, None
    if official_config is not None:
        cfg, _ = converter.backbone_cfg(official_config, dense=True)
        settings = converter.backbone_class.arch_settings_of(cfg['arch'])
    else:
        try:
            arch, _ = converter.infer_arch(backbone)
        except ValueError:
            pass  # a custom architecture: the target config says which
    out_norms = out_norms_of({k[len(BACKBONE):]: v for k, v in converted.items()
                              if k.startswith(BACKBONE)})
    return DownstreamModel(TASK, converted, out_norms, arch, settings)


def _class_keys(state_dict: Dict[str, torch.Tensor]) -> List[str]:
    return [k for k in state_dict
            if re.match(r'bbox_head\.cls_branches\.\d+\.(weight|bias)$', k)
            or k == 'dn_query_generator.label_embedding.weight']


def fit_classes(state_dict: Dict[str, torch.Tensor],
                expected: Dict[str, torch.Size]) -> Tuple[Dict[str, torch.Tensor], bool]:
    """The class layers' rows fitted to the target head: kept where the counts agree, the
    rows of COCO's 80 category ids where a COCO-id layout (91 rows, 92 for the denoising label
    embedding) meets an 80-class head. Returns the state_dict and whether it mapped COCO ids.

    Raises:
        ValueError: any other combination (the message gives both counts).
    """
    fitted, mapped = dict(state_dict), False
    for key in _class_keys(state_dict):
        rows, want = state_dict[key].shape[0], expected.get(key, (None, ))[0]
        if want is None or rows == want:
            continue
        if want == len(COCO_CATEGORY_IDS) and rows > max(COCO_CATEGORY_IDS):
            fitted[key] = state_dict[key][list(COCO_CATEGORY_IDS)]
            mapped = True
        else:
            raise ValueError(f'{key} has {rows} class rows, the config\'s head {want}: only '
                             "COCO's category-id layout (91 rows) maps onto 80 classes; set "
                             "the head's num_classes to the checkpoint's")
    return fitted, mapped


def coco_dataset_meta() -> dict:
    """mmdet's COCO class names and palette, for ``init_detector`` (IDEA's files name no
    classes)."""
    from mmdet.datasets import CocoDataset
    return dict(classes=tuple(CocoDataset.METAINFO['classes']),
                palette=[list(p) for p in CocoDataset.METAINFO['palette']])


def carrier_token_warning(converter: FamilyConverter,
                          state_dict: Dict[str, torch.Tensor]) -> Optional[str]:
    """A warning for a FasterViT backbone with carrier tokens: the authors' DINO code computes
    them unlike their classifier and mmvitplug, so such a file converts and loads but does not
    give the authors' outputs (the released DINO's backbone, FasterViT-4-21K-224, has none)."""
    if converter.family != 'fastervit' or not any('.hat_attn.' in k for k in state_dict):
        return None
    return ("this backbone has carrier tokens (hierarchical attention). The authors' DINO code "
            'computes them unlike their classifier and mmvitplug (the pooled carrier map is '
            'reshaped without being cut into windows, and the carrier attention\'s position '
            'bias reaches only the last 16 carrier tokens, their number at 224x224), so the '
            "converted model loads but will not reproduce that checkpoint's outputs")
