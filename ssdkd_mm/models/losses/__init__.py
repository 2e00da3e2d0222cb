from .bn_stat_loss import BNStatisticsLoss
from .kd import per_sample_kl
from .modulating import ModulatingFunction

__all__ = ['BNStatisticsLoss', 'ModulatingFunction', 'per_sample_kl']
