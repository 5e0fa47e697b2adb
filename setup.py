from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def read_version() -> str:
    namespace: dict = {}
    exec((ROOT / 'mmvitplug' / 'version.py').read_text(), namespace)
    return namespace['__version__']


setup(
    name='mmvitplug',
    version=read_version(),
    description='FasterViT, BiFormer and LITv2 backbones for OpenMMLab 2.x '
    '(mmdet, mmseg, mmpretrain)',
    long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    packages=find_packages(include=('mmvitplug', 'mmvitplug.*')),
    python_requires='>=3.8',
    # The backbones need torch, torchvision (deformable conv of LITv2) and mmengine; mmcv is the
    # OpenMMLab 2.x line that mmdet 3.x / mmseg 1.x accept. The downstream toolboxes are extras:
    # a project may use the plugin with only one of them.
    install_requires=[
        'torch>=1.13',
        'torchvision>=0.14',
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
        'deploy': ['onnx', 'onnxruntime', 'onnxscript'],
        'tests': ['pytest', 'pycocotools', 'matplotlib', 'onnx', 'onnxruntime', 'onnxscript',
                  'hypothesis>=6.100,<7', 'pytest-xdist>=3.5,<4'],
    },
    license='Apache License 2.0',
    zip_safe=False,
)
