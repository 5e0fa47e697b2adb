from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def read_module(name: str) -> dict:
    """The globals of ``mmvitplug/<name>.py`` (modules without imports of the package)."""
    namespace: dict = {}
    exec((ROOT / 'mmvitplug' / f'{name}.py').read_text(), namespace)
    return namespace


# mmvitplug's own code is under Apache-2.0. The authors' weights it converts keep their
# licence, whatever file they are converted into (FasterViT: NVIDIA Source Code License-NC,
# non-commercial use only; BiFormer: MIT; LITv2: Apache-2.0): the table is
# mmvitplug/licences.py, stated in the long description (README) and by the converter.
LICENCES = read_module('licences')


setup(
    name='mmvitplug',
    version=read_module('version')['__version__'],
    description='FasterViT, BiFormer and LITv2 backbones for OpenMMLab 2.x '
    '(mmdet, mmseg, mmpretrain)',
    long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    packages=find_packages(include=('mmvitplug', 'mmvitplug.*')),
    # torch 2.5 supports Python 3.9 and newer
    python_requires='>=3.9',
    # The backbones need torch, torchvision (deformable conv of LITv2) and mmengine; mmcv is the
    # OpenMMLab 2.x line that mmdet 3.x / mmseg 1.x accept. The downstream toolboxes are extras:
    # a project may use the plugin with only one of them.
    install_requires=[
        # torch 2.5: the newest API used is torch.serialization.safe_globals (the scoped
        # allow-list of safe checkpoint loading, added in 2.5; add_safe_globals /
        # get_safe_globals came in 2.4), and torch.onnx.export(dynamo=...) (2.5) in the ONNX
        # export; the rest (torch.get_autocast_dtype, torch.amp.is_autocast_available 2.4,
        # torch.compiler.is_compiling 2.3, torch.sym_min/sym_max) is older.
        'torch>=2.5',
        'torchvision>=0.20',  # the release paired with torch 2.5
        'mmengine>=0.10.0,<1.0.0',
        'mmcv>=2.0.0rc4,<2.2.0',
        'numpy',
    ],
    extras_require={
        'det': ['mmdet>=3.0.0,<3.4.0'],
        'seg': ['mmsegmentation>=1.0.0,<1.3.0', 'ftfy', 'regex'],
        'cls': ['mmpretrain>=1.0.0,<1.3.0'],
        'all': [
            'mmdet>=3.0.0,<3.4.0', 'mmsegmentation>=1.0.0,<1.3.0', 'ftfy', 'regex',
            'mmpretrain>=1.0.0,<1.3.0'
        ],
        # openvino: the second CPU runtime of mmvitplug.utils.runtimes (beside onnxruntime)
        'deploy': ['onnx', 'onnxruntime', 'onnxscript', 'openvino'],
        'tests': ['pytest', 'pycocotools', 'matplotlib', 'onnx', 'onnxruntime', 'onnxscript',
                  'openvino', 'hypothesis>=6.100,<7', 'pytest-xdist>=3.5,<4'],
    },
    license=LICENCES['PACKAGE_LICENCE'],
    classifiers=[
        'License :: OSI Approved :: Apache Software License',
        'Programming Language :: Python :: 3',
        'Operating System :: OS Independent',
        'Intended Audience :: Science/Research',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
        'Topic :: Scientific/Engineering :: Image Recognition',
    ],
    zip_safe=False,
)
