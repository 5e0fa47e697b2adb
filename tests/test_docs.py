"""The README and the manual: short front page, links that resolve, figures rendered from the
committed benchmark files."""
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = ([REPO / 'README.md'] + sorted((REPO / 'docs').rglob('*.md')) +
         sorted((REPO / 'configs').glob('*/README.md')))
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^```.*?^```', re.S | re.M)


def _benchmark_module(name):
    sys.path.insert(0, str(REPO / 'benchmarks'))
    try:
        spec = importlib.util.spec_from_file_location(name, REPO / 'benchmarks' / f'{name}.py')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / 'benchmarks'))


def slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


def anchors(path: Path) -> set:
    text = FENCE.sub('', path.read_text())
    return {slug(line.lstrip('#')) for line in text.splitlines() if line.startswith('#')}


def test_readme_is_a_short_front_page():
    lines = (REPO / 'README.md').read_text().splitlines()
    assert len(lines) <= 200, f'README.md has {len(lines)} lines; the manual is docs/en/'
    assert 'make test' in (REPO / 'README.md').read_text()


def test_manual_has_openmmlab_layout():
    en = REPO / 'docs' / 'en'
    for page in ('get_started.md', 'benchmarks.md', 'changelog.md'):
        assert (en / page).is_file(), page
    assert list((en / 'user_guides').glob('*.md')) and list((en / 'advanced_guides').glob('*.md'))


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page):
    text = FENCE.sub('', page.read_text())
    broken = []
    for target in LINK.findall(text):
        if re.match(r'[a-z]+:', target):
            continue  # http(s), mailto
        path, _, anchor = target.partition('#')
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f'{target} (no such file)')
        elif anchor and resolved.suffix == '.md' and anchor not in anchors(resolved):
            broken.append(f'{target} (no heading #{anchor})')
    assert not broken, f'{page.relative_to(REPO)}: ' + '; '.join(broken)


def test_manual_figures_are_rendered_from_the_benchmark_files():
    docs_tables = _benchmark_module('docs_tables')
    stale = [p for p in docs_tables.pages() if docs_tables.render_page(p) != p.read_text()]
    assert not stale, f'stale include blocks in {stale}: run python benchmarks/docs_tables.py'
    rendered = (REPO / 'docs' / 'en' / 'benchmarks.md').read_text()
    assert 'GEMM' in rendered and '<!-- include benchmarks/library_share.md -->' in rendered


def test_readme_speed_table_is_rendered_from_its_runs():
    share = _benchmark_module('library_share')
    result = json.loads((REPO / 'benchmarks' / 'library_share.json').read_text())
    block = (REPO / 'README.md').read_text().split('<!-- front-table -->\n')[1].split(
        '<!-- /front-table -->')[0]
    assert block == '\n'.join(share.front_table(result)) + '\n', (
        'README front table is stale: run python benchmarks/library_share.py --render')
    for run in result['runs']:  # every run states the machine's GEMM profile
        assert set(run['machine']['gemm_gmac_per_s']) == {'mkl', 'onednn'}


def test_readme_states_each_familys_licence():
    from mmvitplug.licences import FAMILY_LICENCES
    readme = (REPO / 'README.md').read_text().split('## Licences', 1)[1]
    assert (REPO / 'LICENSE').read_text().lstrip().startswith('Apache License')
    for licence in FAMILY_LICENCES.values():
        row = next((line for line in readme.splitlines()
                    if line.startswith(f'| {licence.family} |')), '')
        assert licence.name in row and licence.url in row, (
            f'README licence table: {licence.family} must name {licence.name} ({licence.url})')
