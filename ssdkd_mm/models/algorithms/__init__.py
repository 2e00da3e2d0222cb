from .ssdkd import SSDKDDistillation
from .task_adapters import ClsTaskAdapter, build_task_adapter

__all__ = ['SSDKDDistillation', 'ClsTaskAdapter', 'build_task_adapter']
