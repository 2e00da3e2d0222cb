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


def _gather_worker(rank, port, out_dir):
    import torch.distributed as torch_dist
    torch_dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
        world_size=2)
    n = 3 if rank == 0 else 1  # ranks contribute different row counts
    fields = dict(
        label=torch.full((n, ), rank, dtype=torch.int64),
        hist=torch.full((n, 4), rank + 0.5),  # (N, C) float32 rows
        img=torch.full((n, 1, 2, 2), rank, dtype=torch.uint8))
    out = all_gather_rows(fields)
    torch.save((out, shard_range(5)), f'{out_dir}/rank{rank}.pt')
    torch_dist.destroy_process_group()


def test_all_gather_rows_two_processes(tmp_path):
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    mp.spawn(_gather_worker, args=(port, str(tmp_path)), nprocs=2)
    results = [torch.load(tmp_path / f'rank{r}.pt') for r in (0, 1)]
    for out, _ in results:
        assert out['label'].tolist() == [0, 0, 0, 1]
        assert out['hist'].shape == (4, 4) and out['hist'].dtype == \
            torch.float32
        assert out['hist'][:, 0].tolist() == [0.5, 0.5, 0.5, 1.5]
        assert out['img'].dtype == torch.uint8 and out['img'].shape == (
            4, 1, 2, 2)
    assert [r[1] for r in results] == [(0, 3), (3, 5)]
