from .bn_stat_loss import BNStatisticsLoss
from .kd import per_sample_cwd, per_sample_kl
from .modulating import ModulatingFunction, inverse_frequency

__all__ = [
    'BNStatisticsLoss', 'ModulatingFunction', 'inverse_frequency',
    'per_sample_cwd', 'per_sample_kl'
]
