"""Pieces shared by the per-family converter modules."""


def image_classifier(backbone: dict, num_classes: int, in_channels: int) -> dict:
    """mmpretrain ``ImageClassifier`` config: ``backbone``, global average pooling, linear head."""
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=in_channels,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))


def refuse_unreleased(family: str, config: dict, released_only) -> None:
    """ValueError for official constructor options set to values no released model uses."""
    for key, released in released_only:
        if config.get(key, released) != released:
            raise ValueError(f'mmvitplug {family} implements {key}={released!r} (as every '
                             f'released model), got {config[key]!r}')
