"""tools/benchmark_gpu.py's pieces that need no GPU: the device check and
the Markdown table."""
import pytest

from ssdkd_mm.experiments import gpu_bench


def test_cpu_needs_allow_cpu(tmp_path):
    with pytest.raises(gpu_bench.DeviceError, match='needs --allow-cpu'):
        gpu_bench.run_gpu_benchmark(device='cpu', out=str(tmp_path))
    assert not (tmp_path / 'results.json').exists()


def test_markdown_table():
    rows = [dict(precision='fp32', synth_round_s=0.1, kd_step_s=0.02,
                 max_memory_gib=3.31),
            dict(precision='bf16+cl', synth_round_s=0.05, kd_step_s=0.01)]
    text = gpu_bench.markdown(
        dict(device='Some GPU', date='2024-01-01', batch=256, torch='2.x',
             cuda='12.4', iters=30, rows=rows))
    assert text.startswith('\n### GPU timing: Some GPU (2024-01-01)\n')
    assert 'median of 30 KD steps and 10 synthesis rounds' in text
    assert '| fp32 | 20.0 ms | 100.0 ms | 3.3 GiB |' in text
    assert '| bf16+cl | 10.0 ms | 50.0 ms | — |' in text


def test_run_writes_results_and_appends_the_table(tmp_path, monkeypatch,
                                                  capsys):
    calls = []

    def fake_measure(precision, device, batch, warmup, iters):
        calls.append((precision, device, batch, warmup, iters))
        return dict(precision=precision, synth_round_s=0.1, kd_step_s=0.02)

    monkeypatch.setattr(gpu_bench, 'measure', fake_measure)
    docs = tmp_path / 'b.md'
    docs.write_text('# Benchmarks\n')
    result = gpu_bench.run_gpu_benchmark(
        device='cpu', batch=8, iters=3, warmup=1, out=str(tmp_path / 'out'),
        docs=str(docs), allow_cpu=True)
    assert calls == [('fp32', 'cpu', 8, 1, 3), ('bf16+cl', 'cpu', 8, 1, 3)]
    assert (tmp_path / 'out' / 'results.json').is_file()
    assert result['batch'] == 8 and result['g_steps'] == 2
    table = gpu_bench.markdown(result)
    assert docs.read_text() == '# Benchmarks\n' + table
    assert table in capsys.readouterr().out
