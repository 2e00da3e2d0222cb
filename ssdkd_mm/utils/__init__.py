from .data_check import check_data_roots, check_teacher_ckpt, preflight
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'check_data_roots', 'check_teacher_ckpt',
    'preflight'
]
