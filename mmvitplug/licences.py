"""Licences: mmvitplug's own code, and the authors' code and released weights of each family.

This table is the one place the package states them; ``setup.py`` (package metadata), the
converter (its help and what it prints after converting) and the docs cite it. mmvitplug
re-implements the three architectures under its own licence; weights converted from the
authors' releases stay under the authors' licence, whatever file they are converted into.

The module imports nothing, so ``setup.py`` can read it without torch installed.
"""
from typing import Dict, NamedTuple

#: the licence of mmvitplug's own code (SPDX identifier)
PACKAGE_LICENCE = 'Apache-2.0'


class Licence(NamedTuple):
    """The licence of a family's official code and released weights.

    Attributes:
        family: the family's name as the papers write it.
        name: the licence's name as the authors give it.
        spdx: its SPDX identifier (``LicenseRef-...`` for one without an SPDX entry).
        url: the authors' licence file.
        commercial_use: whether the licence allows commercial use.
    """
    family: str
    name: str
    spdx: str
    url: str
    commercial_use: bool


#: family -> the licence of the authors' code and released weights (from each repository's
#: LICENSE file and README "License" section)
FAMILY_LICENCES: Dict[str, Licence] = {
    'fastervit': Licence('FasterViT', 'NVIDIA Source Code License-NC',
                         'LicenseRef-NVIDIA-Source-Code-License-NC',
                         'https://github.com/NVlabs/FasterViT/blob/main/LICENSE', False),
    'biformer': Licence('BiFormer', 'MIT License', 'MIT',
                        'https://github.com/rayleizhu/BiFormer/blob/public_release/LICENSE',
                        True),
    'litv2': Licence('LITv2', 'Apache License 2.0', 'Apache-2.0',
                     'https://github.com/ziplab/LITv2/blob/main/LICENSE', True),
}


def weights_licence_note(family: str) -> str:
    """One sentence on the licence of ``family``'s released weights, for messages."""
    try:
        licence = FAMILY_LICENCES[family.lower()]
    except KeyError:
        raise ValueError(f'unknown family {family!r}; licences are recorded for '
                         f'{sorted(FAMILY_LICENCES)}') from None
    use = '' if licence.commercial_use else ' (non-commercial use only: research or evaluation)'
    return (f"The authors' {licence.family} weights, and files converted from them, are under "
            f'the {licence.name}{use}: {licence.url}')
