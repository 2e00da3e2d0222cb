import torch

from ssdkd_mm.replay.distributed import (all_gather_rows, last_write_wins,
                                         shard_range)


def test_single_process_is_identity():
    fields = dict(a=torch.arange(3), b=torch.ones(3, 4))
    out = all_gather_rows(fields)
    assert out.keys() == fields.keys()
    assert all(out[k] is fields[k] for k in fields)
    assert shard_range(5) == (0, 5)


def test_last_write_wins():
    idx = torch.tensor([4, 1, 4, 2, 1])
    vals = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])
    uniq, last = last_write_wins(idx, vals)
    assert uniq.tolist() == [1, 2, 4]
    assert last.tolist() == [4.0, 3.0, 2.0]
    rows = torch.arange(10.0).view(5, 2)  # works for row-valued fields too
    assert last_write_wins(idx, rows)[1].tolist() == [[8, 9], [6, 7], [4, 5]]
