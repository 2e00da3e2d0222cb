# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Version of ssdkd_mm (kept import-free so setup.cfg can read it)."""

__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """Split a version string into a comparable tuple.

    Args:
        version_str (str): A version such as ``'0.1.0'`` or ``'1.0.0rc1'``.

    Returns:
        tuple: Integers for the numeric parts, followed by the pre-release
        tag as a string when there is one, e.g. ``(1, 0, 0, 'rc1')``.
    """
    parts = []
    for field in version_str.split('.'):
        # '0rc1' -> 0 and 'rc1': leading digits are the number, the rest a tag
        tag = field.lstrip('0123456789')
        number = field[:len(field) - len(tag)]
        if number:
            parts.append(int(number))
        if tag:
            parts.append(tag)
    return tuple(parts)


version_info = parse_version_info(__version__)

__all__ = ['__version__', 'version_info', 'parse_version_info']
