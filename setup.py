"""Installs the `vae` library and the `experiments` scripts."""

import os

import setuptools

_README = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       'README.md')

setuptools.setup(
    name='vae',
    version='0.2.0',
    description=('Variational autoencoders on Sonnet 2, TensorFlow Probability '
                 'and TensorFlow Datasets.'),
    long_description=open(_README, encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    classifiers=[
        'Development Status :: 4 - Beta',
        'Intended Audience :: Science/Research',
        'License :: OSI Approved :: Apache Software License',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    packages=setuptools.find_packages(include=['vae', 'vae.*', 'experiments',
                                               'experiments.*']),
    package_data={'vae.run': ['preset_files/*.json']},
    python_requires='>=3.10',
    # Ranges around the versions pinned in requirements.txt.
    install_requires=[
        'tensorflow>=2.21,<2.22',
        'tf-keras>=2.21,<2.22',
        'tensorflow-probability>=0.25,<0.26',
        'dm-sonnet>=2.0.2,<2.1',
        'tensorflow-datasets>=4.9.10,<4.10',
        'importlib_resources',
        'numpy>=2',
        'matplotlib>=3.8',
        'absl-py>=2',
        'tqdm>=4',
        'tensorboard>=2.21,<2.22',
        'scikit-learn>=1.5',
        'scipy>=1.11',
    ],
    extras_require={'test': ['pytest>=8', 'pytest-xdist>=3']},
)
