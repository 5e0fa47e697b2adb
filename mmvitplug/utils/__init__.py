from .checkpoint import allow_runner_checkpoints, runner_checkpoints_allowed

__all__ = ['allow_runner_checkpoints', 'runner_checkpoints_allowed']
