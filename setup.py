"""Build of the C extensions: ``eegssm.nn._scan`` (the SSD recurrence for CPU inference) and
``eegssm.preprocessing._iir`` (zero-phase band-pass/notch filtering of many channels at once).

Everything else is in ``pyproject.toml``. The extensions are optional: where no C compiler is
found the build goes on without them: the layers use the pure-PyTorch path and the filters
scipy.signal (same results to float round-off; ``eegssm doctor`` says which ones run).
"""

import os

from setuptools import Extension, setup

# -fno-trapping-math: no code here reads floating-point exception flags, so a comparison may be
# evaluated for every lane; without it GCC leaves loops with a clamp (the SiLU's exp) scalar on
# AVX2 (AVX-512 masks them anyway); 5x slower conv + SiLU there. -ffp-contract=fast: a * b + c
# becomes one fused multiply-add in the AVX2 and AVX-512 builds of each loop (one rounding instead
# of two: the last bits differ from the baseline build; conv + SiLU and the gated norm ~25%
# faster). No reassociation: sums keep their order.
flags = ["-O3", "-std=c11", "-pthread", "-fno-trapping-math", "-ffp-contract=fast"]
if os.name != "posix":
    flags = ["/O2"]
setup(
    ext_modules=[
        Extension(
            "eegssm.nn._scan",
            ["src/eegssm/nn/_scan.c"],
            extra_compile_args=flags,
            libraries=["m"] if os.name == "posix" else [],
            extra_link_args=["-pthread"] if os.name == "posix" else [],
            optional=True,
        ),
        Extension(
            "eegssm.preprocessing._iir",
            ["src/eegssm/preprocessing/_iir.c"],
            extra_compile_args=flags,
            extra_link_args=["-pthread"] if os.name == "posix" else [],
            optional=True,
        ),
    ]
)
