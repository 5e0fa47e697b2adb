"""Importing mmvitplug is light: no downstream toolbox, and registries resolve lazily."""
import json

from conftest import run_python


def test_import_does_not_pull_downstream_toolboxes():
    proc = run_python([
        '-c', 'import json, sys, mmvitplug; '
        'print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))'
    ], check=True)
    top_level = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert 'mmvitplug' in top_level
    assert not top_level & {'mmdet', 'mmseg', 'mmpretrain'}, top_level


def test_scoped_lookup_imports_mmvitplug_without_custom_imports():
    # mmengine resolves the scope prefix of 'mmvitplug.X' by importing mmvitplug.registry,
    # which is what makes type='mmvitplug.X' work in configs without custom_imports.
    proc = run_python([
        '-c', 'import sys; from mmdet.registry import MODELS; '
        'from mmengine.registry import init_default_scope; init_default_scope("mmdet"); '
        'assert "mmvitplug" not in sys.modules; '
        'MODELS.get("mmvitplug.DoesNotExist"); '
        'imported = "mmvitplug.registry" in sys.modules; '
        'from mmvitplug.registry import MODELS as M; '
        'print(imported, M.scope, M.parent.scope)'
    ], check=True)
    assert proc.stdout.split()[-3:] == ['True', 'mmvitplug', 'mmengine']
