#!/usr/bin/env python
"""Render the manual's measured figures from the committed benchmark files.

    .venv/bin/python benchmarks/docs_tables.py           # rewrite the include blocks in docs/
    .venv/bin/python benchmarks/docs_tables.py --check   # exit 1 where a block is stale

A page of the manual quotes a benchmark through a block

    <!-- include benchmarks/NAME.md -->
    <!-- /include -->

which this script fills with the file's tables, headed by where they come from: the file, the
machine that measured it and that machine's float32 GEMM profile (from ``NAME.json``). So every
figure in the manual is one a committed run measured, next to the machine it holds for.
"""
import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BLOCK = re.compile(r'(<!-- include (benchmarks/[\w.-]+\.md) -->\n)(.*?)(<!-- /include -->)', re.S)
LINK = re.compile(r'(\]\()(?!https?:|#|/)([^)]+)\)')
# Pages whose measurements are not in NAME.json.
JSON_OF = {'README.md': 'report.json'}


def profile_text(machine: dict) -> str:
    """'float32 GEMM 98 (MKL) / 221 (oneDNN) GMAC/s' of a benchmark's machine header, or that
    the run did not record it."""
    gemm = machine.get('gemm_gmac_per_s')
    if not gemm:
        return 'GEMM profile not recorded with this run'
    text = 'float32 GEMM ' + ' / '.join(
        f'{gemm[k]:.0f} ({name})' for k, name in (('mkl', 'MKL'), ('onednn', 'oneDNN'))
        if k in gemm) + ' GMAC/s'
    return text + (f' ({machine["gemm_source"]})' if machine.get('gemm_source') else '')


def _machines(result) -> list:
    """The machine dicts a benchmark JSON records (one per run)."""
    if isinstance(result, dict) and 'runs' in result:
        return [run['machine'] for run in result['runs']]
    for key in ('header', 'machine'):
        if isinstance(result, dict) and isinstance(result.get(key), dict):
            return [result[key]]
    return []


def _to_repo(page: Path) -> str:
    """The relative path from ``page``'s folder up to the repository root ('../../')."""
    return '../' * (len(page.relative_to(REPO).parts) - 1)


def source_line(md_path: Path, page: Path) -> str:
    """'From benchmarks/X.md: <machine>, <GEMM profile>.' for the page that includes it."""
    link = _to_repo(page) + md_path.relative_to(REPO).as_posix()
    text = f'From [`{md_path.relative_to(REPO)}`]({link})'
    json_path = md_path.parent / JSON_OF.get(md_path.name, md_path.stem + '.json')
    machines = _machines(json.loads(json_path.read_text())) if json_path.exists() else []
    if len(machines) == 1:
        m = machines[0]
        text += f': {m.get("gpu", m.get("cpu", "machine not recorded"))}'
        if 'threads' in m:
            text += f', {m["threads"]} threads'
        text += f'; {profile_text(m)}'
    elif machines:
        text += f': {len(machines)} machines, each with its GEMM profile below'
    else:
        text += ': machine and GEMM profile not recorded with this run'
    return text + '.'


def body(md_path: Path, page: Path) -> str:
    """The benchmark page without its title, headings two levels down, links re-rooted."""
    prefix = _to_repo(page) + 'benchmarks/'
    lines = md_path.read_text().strip('\n').splitlines()
    if lines and lines[0].startswith('# '):
        lines = lines[1:]
    out = []
    for line in lines:
        if line.startswith('#'):
            line = '##' + line
        out.append(LINK.sub(lambda m: f'{m.group(1)}{prefix}{m.group(2)})', line))
    return '\n'.join(out).strip('\n')


def render_page(page: Path) -> str:
    def fill(match):
        md_path = REPO / match.group(2)
        if not md_path.exists():
            raise SystemExit(f'{page.relative_to(REPO)} includes {match.group(2)}, which does '
                             'not exist')
        return (match.group(1) + source_line(md_path, page) + '\n\n' + body(md_path, page) +
                '\n' + match.group(4))
    return BLOCK.sub(fill, page.read_text())


def pages() -> list:
    return sorted((REPO / 'docs').rglob('*.md'))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='only check that every include block is up to date')
    args = parser.parse_args(argv)
    stale = []
    for page in pages():
        text = render_page(page)
        if text != page.read_text():
            stale.append(str(page.relative_to(REPO)))
            if not args.check:
                page.write_text(text)
    if args.check and stale:
        print('stale include blocks in: ' + ', '.join(stale) +
              ' (run python benchmarks/docs_tables.py)')
        return 1
    print(('rewritten: ' + ', '.join(stale)) if stale else 'all include blocks up to date')
    return 0


if __name__ == '__main__':
    sys.exit(main())
