# Copyright (c) ssdkd_mm contributors. All rights reserved.


def register_all_modules(init_default_scope: bool = False) -> None:
    """Import mmrazor's and ssdkd_mm's modules so that every registry entry
    exists (ssdkd_mm's compatibility fixes run first, on import)."""
    import ssdkd_mm  # noqa: F401  (compat fixes + our registrations)
    from mmrazor.utils import register_all_modules as _razor_register
    _razor_register(init_default_scope)
