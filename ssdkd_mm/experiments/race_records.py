# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The race's finished runs (``records.jsonl``, one record per snapshot):
read back for a resumed race, and refused when they cannot be mixed in."""
import json
from typing import Dict, List

from .testbeds import DEFAULT


def load_records(rec_file: str, budget_s: float, machine: Dict,
                 testbed: str, variants: Dict) -> List[Dict]:
    """The records of ``rec_file`` at ``budget_s``.

    Raises:
        ValueError: a record from another testbed (one without the field
            ran on the README's pair), another machine or grid (every key
            of ``machine``), or a variant that ran with other options.
    """
    with open(rec_file) as f:
        records = [json.loads(line) for line in f if line.strip()]
    records = [r for r in records if abs(r['budget_s'] - budget_s) < 1e-6]
    for r in records:
        there = r.get('testbed', DEFAULT)
        if there != testbed:
            raise ValueError(
                f'{rec_file} holds runs on the {there!r} testbed, not '
                f'{testbed!r}; the race runs on one testbed: use another '
                '--work-dir or --fresh')
        there = tuple(r.get(k) for k in machine)
        if there != tuple(machine.values()):
            raise ValueError(
                f'{rec_file} holds runs from another machine or grid '
                f'{there}, not {tuple(machine.values())}; the race runs on '
                'one machine and grid: use another --work-dir or --fresh')
        want = variants.get(r['method'], {}).get('options') or None
        if r['method'] in variants and (r.get('options') or None) != want:
            raise ValueError(
                f"{rec_file}: variant {r['method']!r} ran with options "
                f"{r.get('options')}, now {want}; rename it, or use another "
                '--work-dir or --fresh')
    return records
