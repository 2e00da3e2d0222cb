# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""The experiment harness: demo, benchmark (methods, runs, statistics,
report, plateau), overhead timing, GPU benchmark and the paper's CIFAR
reproduction. Users call :mod:`ssdkd_mm.apis`; this is what the project's
measurements are made with."""
