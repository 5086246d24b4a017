"""Decode every image of a config's datasets and list the ones training could not use, with the reason.

    python tools/data/check_images.py CONFIG [--phases train val test] [--workers 8]
                                             [--cfg-options key=value ...]

Exit status 0 when every image is fine, 1 when some are bad (one line each: path, reason, config key),
2 for a config that cannot be read. Bad unlabeled images are replaced during training (and counted);
bad labeled or validation images stop it, so run this before a long run.
"""
import argparse
import sys

from mmengine.config import DictAction

import ssod  # noqa: F401  (registers ssod's datasets)
from ssod.apis.config_checks import ConfigError
from ssod.apis.data_checks import PHASES, check_data_paths
from ssod.apis.image_preflight import check_images, dataset_images
from ssod.apis.runner import load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='List the images of a config that cannot be decoded')
    parser.add_argument('config')
    parser.add_argument('--phases', nargs='+', choices=PHASES, default=list(PHASES))
    parser.add_argument('--workers', type=int, default=4, help='processes that decode images')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config entries')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, 'none', args.cfg_options, None)
        check_data_paths(cfg, args.phases)
        images = dataset_images(cfg, args.phases)
    except (ConfigError, ValueError, OSError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    bad = check_images(images, workers=args.workers)
    for key, path, reason in bad:
        print(f'{path}: {reason} ({key})')
    print(f'{len(images)} images checked, {len(bad)} bad', file=sys.stderr)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
