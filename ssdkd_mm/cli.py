# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""``ssdkd_mm TOOL [ARGS]`` and ``python -m ssdkd_mm TOOL [ARGS]``: the
tools of a source checkout (``tools/*.py``) for an installed package.

They are shipped inside the package (``ssdkd_mm/.mim/tools``, where ``mim``
finds them too: ``mim train ssdkd_mm CONFIG``, ``mim run ssdkd_mm distill
...``), and run exactly as ``python tools/TOOL.py ARGS`` would.
"""
import os
import os.path as osp
import runpy
import sys
from typing import List, Optional

__all__ = ['main', 'tools_dir', 'available_tools']


def tools_dir() -> str:
    """The folder of the tools: ``.mim/tools`` of the installed package,
    else ``tools/`` of the checkout it is imported from."""
    here = osp.dirname(osp.abspath(__file__))
    for path in (osp.join(here, '.mim', 'tools'),
                 osp.join(osp.dirname(here), 'tools')):
        if osp.isdir(path):
            return path
    raise FileNotFoundError(
        f'no tools next to {here} (.mim/tools): reinstall ssdkd_mm')


def available_tools() -> List[str]:
    return sorted(
        name[:-3] for name in os.listdir(tools_dir())
        if name.endswith('.py') and not name.startswith('_'))


def _usage() -> str:
    return ('usage: ssdkd_mm TOOL [ARGS...]   (python -m ssdkd_mm TOOL ...)\n'
            'TOOL: ' + ', '.join(available_tools()) +
            '\n`ssdkd_mm TOOL --help` for its options.')


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(_usage())
        raise SystemExit(0 if argv else 2)
    name = argv[0].replace('-', '_')
    if name.endswith('.py'):
        name = name[:-3]
    path = osp.join(tools_dir(), name + '.py')
    if not osp.isfile(path):
        print(f'ssdkd_mm: no tool {argv[0]!r}\n' + _usage(), file=sys.stderr)
        raise SystemExit(2)
    sys.argv = [path] + argv[1:]
    runpy.run_path(path, run_name='__main__')


if __name__ == '__main__':
    main()
