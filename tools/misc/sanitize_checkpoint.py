"""Rewrite a trusted checkpoint so that it loads under ``torch.load(weights_only=True)``.

    python tools/misc/sanitize_checkpoint.py IN.pth OUT.pth --trust

Checkpoints saved by plain mmengine/mmdet runs pickle functions inside their message hub (see
:mod:`ssod.compat.checkpoint_safety`), so ssod refuses to load them. This tool loads IN.pth with the full
unpickler, which can run code hidden in the file: that is why ``--trust`` is required. It then saves the
same content the way ssod saves checkpoints and checks that OUT.pth loads with ``weights_only=True``.
Objects that are still not plain data (e.g. a custom class pickled by some hook) are reported by name.
"""
import argparse
import os.path as osp
import sys

import torch

import ssod  # noqa: F401  (installs the pickling rules)
from ssod.compat.checkpoint_safety import UnsafeCheckpointError, load_local_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Rewrite a trusted checkpoint for safe loading')
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument('--trust', action='store_true',
                        help='confirm that SRC comes from a source you trust (it is fully unpickled)')
    return parser.parse_args(argv)


def sanitize(src: str, dst: str) -> None:
    checkpoint = torch.load(src, map_location='cpu', weights_only=False)
    torch.save(checkpoint, dst)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.trust:
        print(f'error: loading {args.src} runs its pickled code; pass --trust if you trust the file',
              file=sys.stderr)
        return 2
    if not osp.isfile(args.src):
        print(f'error: {args.src} does not exist', file=sys.stderr)
        return 2
    if osp.abspath(args.src) == osp.abspath(args.dst):
        print('error: write the converted checkpoint to a new file (DST equals SRC)', file=sys.stderr)
        return 2
    sanitize(args.src, args.dst)
    try:
        load_local_checkpoint(args.dst, map_location='cpu')
    except UnsafeCheckpointError as error:
        print(f'error: {args.dst} still holds objects that are not plain data: {error.__cause__}',
              file=sys.stderr)
        return 1
    print(f'wrote {args.dst}; it loads with torch.load(weights_only=True)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
