"""The model zoo pages (configs/<family>/metafile.yml, model-index.yml, the README tables) agree
with the configs and with what tools/get_flops.py measures now."""
import importlib.util

import pytest
import yaml

from conftest import REPO

spec = importlib.util.spec_from_file_location('model_zoo', REPO / 'tools' / 'model_zoo.py')
model_zoo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(model_zoo)


metafile = model_zoo.read_metafile


def test_model_index_imports_the_three_metafiles():
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    assert index['Import'] == [f'configs/{f}/metafile.yml' for f in model_zoo.FAMILIES]
    for path in index['Import']:
        assert (REPO / path).is_file(), path


@pytest.mark.parametrize('family', model_zoo.FAMILIES)
def test_metafile_lists_every_config_once_and_only_existing_ones(family):
    meta = metafile(family)
    collection = meta['Collections'][0]['Name']
    configs = [m['Config'] for m in meta['Models']]
    on_disk = [p.relative_to(REPO).as_posix() for p in model_zoo.family_configs(family)]
    assert sorted(configs) == sorted(on_disk)  # listed = every det/seg/cls config of the family
    assert len(set(configs)) == len(configs)
    names = [m['Name'] for m in meta['Models']]
    assert len(set(names)) == len(names)
    for m in meta['Models']:
        assert m['In Collection'] == collection
        for key in ('FLOPs', 'Parameters', 'Training Data', 'Architecture'):
            assert m['Metadata'][key], (m['Name'], key)
        for result in m.get('Results', []):
            assert result['Source'] == 'paper'  # published numbers, not ours
            assert result['Task'] == model_zoo.task_of(REPO / m['Config'])[0]


@pytest.mark.parametrize('family', model_zoo.FAMILIES)
def test_readme_tables_are_the_metafile_rendered(family):
    text = (REPO / 'configs' / family / 'README.md').read_text()
    generated = text.split(model_zoo.BEGIN, 1)[1].split(model_zoo.END, 1)[0]
    assert generated.strip() == model_zoo.render_tables(family, metafile(family)).strip(), (
        f'configs/{family}/README.md is stale: run python tools/model_zoo.py --render')
    for m in metafile(family)['Models']:  # every config has its row
        assert f'[{m["Name"]}]' in generated


def test_metafile_costs_are_what_get_flops_measures_now():
    # The smallest ImageNet config of each family (seconds); `python tools/model_zoo.py --check`
    # re-measures all of them (minutes: detectors at 800x1280).
    cheap = ['configs/fastervit/fastervit-0_in1k.py', 'configs/biformer/biformer-tiny_in1k.py',
             'configs/litv2/litv2-s_in1k.py']
    assert model_zoo.drift(cheap) == []


def test_drift_is_reported():
    meta = model_zoo.read_metafile('litv2')
    entry = next(m for m in meta['Models'] if m['Name'] == 'litv2-s_in1k')
    entry['Metadata']['FLOPs'] += 1
    problems = model_zoo.drift(['configs/litv2/litv2-s_in1k.py'], dict(litv2=meta))
    assert len(problems) == 1 and 'FLOPs' in problems[0] and 'measured now' in problems[0]
