"""IDX files, MNIST's format: finding them in a folder, and reading them.

MNIST, Fashion-MNIST and KMNIST ship as `train-images-idx3-ubyte.gz`,
`t10k-labels-idx1-ubyte.gz` and so on; torchvision keeps them in
`<root>/MNIST/raw/`. Files may be gzipped or not.
"""

import gzip
import os
from typing import Dict, Tuple

import numpy as np

from vae import errors

# Datasets published as IDX files with MNIST's file names, and the folder
# torchvision keeps them in (under `<root>/<folder>/raw`).
DATASETS = {'mnist': 'MNIST', 'fashion_mnist': 'FashionMNIST',
            'kmnist': 'KMNIST'}
PREFIXES = {'train': 'train', 'test': 't10k'}
_UBYTE = 0x08


def _read_bytes(path: str, size: int = -1) -> bytes:
  """The first `size` bytes (all for -1) of a file, gunzipped if `.gz`."""
  opener = gzip.open if path.endswith('.gz') else open
  try:
    with opener(path, 'rb') as f:
      return f.read(size)
  except (OSError, EOFError) as e:
    raise errors.DataError(f'cannot read {path}: {e}. Is the file complete? Download '
                    f'it again.') from e


def read(path: str, expected_ndim: int) -> np.ndarray:
  """Reads an IDX file of unsigned bytes (optionally gzipped).

  Args:
    path: The file, gzipped or not.
    expected_ndim: The dimensions it must have (3 for images, 1 for
      labels).
  """
  raw = _read_bytes(path)
  header_size = 4 + 4 * expected_ndim
  if len(raw) < header_size:
    raise errors.DataError(f'{path} is not an IDX file: {len(raw)} bytes, shorter '
                    f'than its header')
  zeros, dtype_code, ndim = raw[:2], raw[2], raw[3]
  if zeros != b'\x00\x00' or dtype_code != _UBYTE or ndim != expected_ndim:
    raise errors.DataError(
        f'{path} is not an IDX file of unsigned bytes with {expected_ndim} '
        f'dimensions (magic number {raw[:4].hex()})')
  shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big')
                for i in range(ndim))
  data = np.frombuffer(raw, dtype=np.uint8, offset=header_size)
  if data.size != int(np.prod(shape)):
    raise errors.DataError(f'{path} is truncated or corrupt: its header promises '
                    f'shape {shape}, {int(np.prod(shape))} values, but it '
                    f'holds {data.size}. Download it again.')
  return data.reshape(shape)


def num_examples(path: str) -> int:
  """The first dimension from an IDX header, without reading the data.

  Args:
    path: The file, gzipped or not.
  """
  header = _read_bytes(path, 8)
  if len(header) < 8 or header[:2] != b'\x00\x00':
    raise errors.DataError(f'{path} is not an IDX file')
  return int.from_bytes(header[4:8], 'big')


def find_files(data_dir: str, name: str = 'mnist'
                   ) -> Dict[str, Tuple[str, str]]:
  """Maps split name to (images, labels) paths of the IDX files in a folder.

  Looks in `data_dir` and in torchvision's layout for dataset `name`
  (`data_dir/MNIST/raw`, `data_dir/FashionMNIST/raw`, ...), for gzipped and
  plain files. A split needs both its images and its labels.

  Args:
    data_dir: The folder.
    name: The dataset (its torchvision folder).
  """
  folders = [data_dir]
  if name in DATASETS:
    folders.append(os.path.join(data_dir, DATASETS[name], 'raw'))
  found = {}
  for split, prefix in PREFIXES.items():
    for folder in folders:
      for suffix in ('.gz', ''):
        images = os.path.join(folder, f'{prefix}-images-idx3-ubyte{suffix}')
        labels = os.path.join(folder, f'{prefix}-labels-idx1-ubyte{suffix}')
        if os.path.isfile(images) and os.path.isfile(labels):
          found.setdefault(split, (images, labels))
  return found
