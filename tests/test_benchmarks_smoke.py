"""The benchmark entry points run (tiny N); timings are reported by them, never asserted."""

from __future__ import annotations

import sys

import pytest


def test_score_benchmark_runs_and_agrees_with_its_reference(monkeypatch, capsys):
    from benchmarks import score

    monkeypatch.setattr(sys, "argv", ["score", "--images", "2", "--repeat", "1"])
    score.main()  # asserts that polymask and the nnU-Net-style loop count the same TP
    out = capsys.readouterr().out
    assert "polymask score:" in out and "nnU-Net-style loop:" in out


@pytest.mark.parametrize("convention", ["labelme", "center"])
def test_rasterize_benchmark_runs(monkeypatch, capsys, convention):
    from benchmarks import rasterize

    monkeypatch.setattr(sys, "argv", ["rasterize", "--images", "2", "--repeat", "1",
                                      "--convention", convention, "--rss", "",
                                      "--throughput-images", "2"])
    rasterize.main()
    assert "ms/image" in capsys.readouterr().out
