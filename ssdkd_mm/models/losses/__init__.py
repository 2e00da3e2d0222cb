from .bn_stat_loss import BNStatisticsLoss
from .kd import per_sample_cwd, per_sample_kl

__all__ = ['BNStatisticsLoss', 'per_sample_cwd', 'per_sample_kl']
