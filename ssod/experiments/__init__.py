"""Controlled comparisons built from ordinary training runs: a supervised burn-in, then arms that start
from the same checkpoint (the demo's Soft Teacher phase and its supervised control), and the accuracy
benchmark's matrix of methods x data x seeds."""
from .training_run import RunResult, train_run

__all__ = ['RunResult', 'train_run']
