"""Stop set-up early on a Python that the pinned stack does not support.

mmcv 2.1.0 is compiled from source here; its build and mmdet 3.3.0 are known to work on CPython
3.9 - 3.12 (measured on 3.11). Newer interpreters lack wheels for parts of the stack.
Exit status 0 when supported, 1 with a message otherwise. Runs on any Python 3.
"""
import sys

SUPPORTED_MIN = (3, 9)
SUPPORTED_MAX = (3, 12)


def main():
    found = sys.version_info[:2]
    if SUPPORTED_MIN <= found <= SUPPORTED_MAX:
        return 0
    sys.stderr.write(
        '[setup] ERROR: Python {}.{} at {} is not supported; ssod needs Python {}.{} - {}.{} '
        '(mmcv 2.1.0 is built from source and mmdet 3.3.0 supports no newer interpreter).\n'
        '[setup]   Install a supported Python and run again with it, e.g. '
        'SSOD_PYTHON=/path/to/python3.11 make setup, or activate a virtual environment made '
        'with it.\n'.format(found[0], found[1], sys.executable, *SUPPORTED_MIN, *SUPPORTED_MAX))
    return 1


if __name__ == '__main__':
    sys.exit(main())
