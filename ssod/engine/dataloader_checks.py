"""Build-time checks of the training dataloader (called by ``SemiIterBasedTrainLoop``)."""


def batch_size_message(sampler_batch: int, loader_batch: int, sampler_name: str) -> str:
    return (f'train_dataloader.sampler.batch_size ({sampler_batch}) differs from '
            f'train_dataloader.batch_size ({loader_batch}): {sampler_name} draws {sampler_batch} '
            f'images per iteration but the DataLoader batches {loader_batch}, so batches straddle '
            f'iterations, the source ratio is not the configured one and a resumed run does not '
            f'continue exactly. Set both to the number of images per GPU.')


def check_sampler_batch_size(dataloader) -> None:
    """``ValueError`` if the dataloader's sampler has a ``batch_size`` other than the dataloader's."""
    sampler = getattr(dataloader, 'sampler', None)
    sampler_batch = getattr(sampler, 'batch_size', None)
    loader_batch = getattr(dataloader, 'batch_size', None)
    if isinstance(sampler_batch, int) and isinstance(loader_batch, int) and \
            sampler_batch != loader_batch:
        raise ValueError(batch_size_message(sampler_batch, loader_batch, type(sampler).__name__))
