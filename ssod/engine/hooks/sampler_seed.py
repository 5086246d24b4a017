"""ssod's ``DistSamplerSeedHook``: mmengine's hook plus a check that the train loop counts iterations.

ssod's samplers are infinite and indexed by the global iteration, so only iteration-based loops can drive
them (see :mod:`ssod.engine.train_loop`). The check sits in this hook because it is one of mmengine's
default hooks (``default_hooks.sampler_seed``; the Runner adds it even when a config leaves it out) and, with
``default_scope = 'ssod'``, ``type='DistSamplerSeedHook'`` finds this class before mmengine's. So every
ssod training run gets the check without a config line; only a config that disables
``sampler_seed`` or names ``'mmengine.DistSamplerSeedHook'`` loses it. Behaviour is otherwise mmengine's.
"""
from mmengine.hooks import DistSamplerSeedHook as MMEngineDistSamplerSeedHook

from ssod.registry import HOOKS


@HOOKS.register_module()
class DistSamplerSeedHook(MMEngineDistSamplerSeedHook):
    """mmengine's ``DistSamplerSeedHook``; ``before_train`` rejects epoch loops with an infinite sampler."""

    def before_train(self, runner) -> None:
        from ssod.engine.train_loop import check_loop_fits_sampler  # loops imports the hooks package
        check_loop_fits_sampler(runner.train_loop)
