"""Rewrite a plain mmengine/mmdet checkpoint so that it loads under ``torch.load(weights_only=True)``.

    python tools/misc/sanitize_checkpoint.py IN.pth OUT.pth

Checkpoints saved by plain mmengine/mmdet runs pickle functions and numpy scalars inside their message
hub (see :mod:`ssod.compat.checkpoint_safety`), so ssod refuses to load them. This tool reads IN.pth
with torch's restricted unpickler, allowing only the few extra names such checkpoints contain, each bound
to a restricted stand-in (:func:`ssod.compat.checkpoint_globals.load_convertible`): no code of the file
runs, whatever it holds. It then saves the content the way ssod saves checkpoints and checks that
OUT.pth loads with ``weights_only=True``. A file that references anything else (``os.system``, a custom
class ...) is refused with one line naming what it references. ``--trust`` is accepted for old command
lines and changes nothing: no file is ever fully unpickled.
"""
import argparse
import os.path as osp
import pickle
import sys

import torch

import ssod  # noqa: F401  (installs the pickling rules)
from ssod.compat.checkpoint_globals import CONVERTIBLE_GLOBALS, load_convertible, unsafe_globals
from ssod.compat.checkpoint_safety import UnsafeCheckpointError, load_local_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Rewrite a plain mmengine checkpoint for safe loading')
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument('--trust', action='store_true',
                        help='accepted and ignored: the conversion never runs code of SRC')
    return parser.parse_args(argv)


def sanitize(src: str, dst: str) -> None:
    torch.save(load_convertible(src), dst)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.src):
        print(f'error: {args.src} does not exist', file=sys.stderr)
        return 2
    if osp.abspath(args.src) == osp.abspath(args.dst):
        print('error: write the converted checkpoint to a new file (DST equals SRC)', file=sys.stderr)
        return 2
    others = [name for name in unsafe_globals(args.src) if name not in CONVERTIBLE_GLOBALS]
    if others:
        print(f'error: refused {args.src} as unsafe: it references {", ".join(others[:8])}, which no '
              f'checkpoint saved by ssod, mmengine or mmdet contains (the file may be malicious); '
              f'nothing was converted', file=sys.stderr)
        return 1
    try:
        sanitize(args.src, args.dst)
        load_local_checkpoint(args.dst, map_location='cpu')
    except (pickle.UnpicklingError, UnsafeCheckpointError) as error:
        detail = str(error).strip().splitlines()[0]
        print(f'error: refused {args.src}: {detail}', file=sys.stderr)
        return 1
    except (RuntimeError, EOFError, OSError) as error:
        print(f'error: cannot read {args.src}: {str(error).strip().splitlines()[0]}', file=sys.stderr)
        return 1
    print(f'wrote {args.dst}; it loads with torch.load(weights_only=True)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
