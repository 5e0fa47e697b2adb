"""The model zoo pages (configs/<family>/metafile.yml, model-index.yml, the README tables) agree
with the configs and with what tools/get_flops.py measures now."""
import importlib.util
import re

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
        task = model_zoo.task_of(REPO / m['Config'])
        for result in m.get('Results', []):
            # published numbers, not ours: the paper's or the authors' release tables'
            assert result['Source'] in model_zoo.SOURCES
            for metric in result['Metrics']:
                assert metric in task.metrics, (m['Name'], metric)
                assert result['Task'] == model_zoo.result_task(REPO / m['Config'], metric)


@pytest.mark.parametrize('family', model_zoo.FAMILIES)
def test_readme_tables_are_the_metafile_rendered(family):
    text = (REPO / 'configs' / family / 'README.md').read_text()
    generated = text.split(model_zoo.BEGIN, 1)[1].split(model_zoo.END, 1)[0]
    assert generated.strip() == model_zoo.render_tables(family, metafile(family)).strip(), (
        f'configs/{family}/README.md is stale: run python tools/model_zoo.py --render')
    for m in metafile(family)['Models']:  # every config has its row
        assert f'[{m["Name"]}]' in generated


@pytest.mark.parametrize('family', model_zoo.FAMILIES)
def test_metafile_is_what_render_writes(family):
    # everything but the measured costs (checked below) comes from the configs and the tables
    # in tools/model_zoo.py: a renamed config, a new published number or weights link shows here
    meta = metafile(family)
    reports = {m['Config']: model_zoo.report_of(m['Metadata']) for m in meta['Models']}
    assert model_zoo.dump_yaml(model_zoo.metafile(family, reports)) == model_zoo.dump_yaml(meta), (
        f'configs/{family}/metafile.yml is stale: run python tools/model_zoo.py --render')


@pytest.mark.parametrize('family', model_zoo.FAMILIES)
def test_pages_state_the_licences_of_the_code_and_the_weights(family):
    from mmvitplug.licences import FAMILY_LICENCES, PACKAGE_LICENCE
    licence = FAMILY_LICENCES[family]
    generated = (REPO / 'configs' / family / 'README.md').read_text().split(
        model_zoo.BEGIN, 1)[1].split(model_zoo.END, 1)[0]
    section = generated.split('### Licences', 1)[1]
    assert PACKAGE_LICENCE in section  # mmvitplug's own code
    assert f'[{licence.name}]({licence.url})' in section  # the authors' code and weights
    assert ('non-commercial use only' in section) == (not licence.commercial_use)


def test_metafile_costs_are_what_get_flops_measures_now():
    # The smallest ImageNet config of each family (seconds); `python tools/model_zoo.py --check`
    # re-measures all of them (minutes: detectors at 800x1280).
    cheap = ['configs/fastervit/fastervit-0_32xb128_in1k.py',
             'configs/biformer/biformer-tiny_8xb128_in1k.py',
             'configs/litv2/litv2-s_8xb128_in1k.py']
    assert model_zoo.drift(cheap) == []


def test_drift_is_reported():
    meta = model_zoo.read_metafile('litv2')
    entry = next(m for m in meta['Models'] if m['Name'] == 'litv2-s_8xb128_in1k')
    entry['Metadata']['FLOPs'] += 1
    problems = model_zoo.drift(['configs/litv2/litv2-s_8xb128_in1k.py'], dict(litv2=meta))
    assert len(problems) == 1 and 'FLOPs' in problems[0] and 'measured now' in problems[0]


def _configs(prefixes):
    return [p for f in model_zoo.FAMILIES for p in model_zoo.family_configs(f)
            if model_zoo.prefix_of(p) in prefixes]


def test_published_tables_name_existing_configs():
    keys = {model_zoo.key_of(p) for f in model_zoo.FAMILIES for p in model_zoo.family_configs(f)}
    tables = (model_zoo.PAPER_RESULTS, model_zoo.RELEASE_RESULTS, model_zoo.AUTHORS_COSTS,
              model_zoo.RELEASES)
    for table in tables:
        assert set(table) <= keys, sorted(set(table) - keys)
    assert not set(model_zoo.PAPER_RESULTS) & set(model_zoo.RELEASE_RESULTS)
    for key, value in {**model_zoo.PAPER_RESULTS, **model_zoo.RELEASE_RESULTS}.items():
        metrics = model_zoo.task_of(REPO / 'configs' / f'{key}.py').metrics
        assert set(value) <= set(metrics) if isinstance(value, dict) else value > 0, key


def test_authors_released_dense_models_are_listed_with_their_links():
    # the authors' own dense recipes (Mask R-CNN, RetinaNet, Semantic FPN of BiFormer and
    # LITv2): each has the authors' release, LITv2's with the checkpoint they link
    dense = [p for p in _configs(('mask-rcnn_', 'retinanet_', 'fpn_'))
             if p.parent.name in ('biformer', 'litv2')]
    assert dense
    for path in dense:
        key = model_zoo.key_of(path)
        assert key in model_zoo.RELEASES, key
        assert path.parent.name == 'biformer' or model_zoo.RELEASES[key].checkpoint, key
    for family in ('biformer', 'litv2'):
        generated = (REPO / 'configs' / family / 'README.md').read_text().split(
            model_zoo.BEGIN, 1)[1].split(model_zoo.END, 1)[0]
        for m in metafile(family)['Models']:
            release = model_zoo.RELEASES.get(model_zoo.key_of(REPO / m['Config']))
            if release is None or release.checkpoint is None:
                if release is not None:  # only a training log: no weights claimed
                    assert 'Converted From' not in m and release.log in generated
                continue
            converted = m['Converted From']
            assert converted['Weights'] == release.checkpoint  # the authors' link, as is
            assert release.checkpoint.startswith(
                'https://github.com/ziplab/LITv2/releases/download/')
            assert f'({release.checkpoint})' in generated and f'({release.log})' in generated
            assert converted['Command'].split() == [
                'python', '-m', 'mmvitplug.converters', family,
                release.checkpoint.rsplit('/', 1)[1], f'checkpoints/{m["Name"]}.pth']


def test_authors_costs_are_numbers_beside_ours():
    for family in model_zoo.FAMILIES:
        for m in metafile(family)['Models']:
            key = model_zoo.key_of(REPO / m['Config'])
            costs = m['Metadata'].get("Authors' Costs")
            assert (costs is not None) == (key in model_zoo.AUTHORS_COSTS), key
            if costs is None:
                continue
            assert isinstance(costs['FLOPs (G)'], (int, float)) and costs['FLOPs (G)'] > 0
            assert re.fullmatch(r'\d+x\d+', costs['Input Size'])  # H x W as they state it
            params = costs.get('Parameters (M)')
            if params is not None:  # the same model: parameters agree (FLOPs counters differ)
                assert isinstance(params, (int, float))
                assert abs(m['Metadata']['Parameters'] / 1e6 - params) < 0.02 * params, key


def test_upernet_is_also_measured_at_512x2048():
    for path in _configs(('upernet',)):
        entry = next(m for m in metafile(path.parent.name)['Models']
                     if m['Config'] == path.relative_to(REPO).as_posix())
        wide = entry['Metadata']['FLOPs (512x2048)']
        assert isinstance(wide, int)
        assert 3 < wide / entry['Metadata']['FLOPs'] < 5  # 4x the pixels of 512x512
