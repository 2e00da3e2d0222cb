# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""``python -m ssdkd_mm TOOL [ARGS]`` (see :mod:`ssdkd_mm.cli`)."""
from ssdkd_mm.cli import main

main()
