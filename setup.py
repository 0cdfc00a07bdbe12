"""Build of the one C extension, ``eegssm.nn._scan`` (the SSD recurrence for CPU inference).

Everything else is in ``pyproject.toml``. The extension is optional: where no C compiler is
found the build goes on without it and the layers use the pure-PyTorch path (same results;
``eegssm doctor`` says which one runs).
"""

import os

from setuptools import Extension, setup

flags = ["-O3", "-std=c11", "-pthread"] if os.name == "posix" else ["/O2"]
setup(
    ext_modules=[
        Extension(
            "eegssm.nn._scan",
            ["src/eegssm/nn/_scan.c"],
            extra_compile_args=flags,
            extra_link_args=["-pthread"] if os.name == "posix" else [],
            optional=True,
        )
    ]
)
