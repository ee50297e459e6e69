"""Build the compiled HDBSCAN steps, cell-text steps, point extractor cells, annotation grouping,
CSV splitter and the workers' parent-death signal.

The rest of the build is in pyproject.toml. The extensions are optional: without a C compiler the
install still succeeds and Tally runs the same steps in Python (core/reducers/_hdbscan.py,
core/csv_layout.py, core/classification.py, core/extractors/point_extractor_by_frame.py, the csv module in
tally/tables.py), with the same results, only slower.
"""

import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

# No fused multiply-adds: they would change the last bit of a distance, and the results must be
# the Python steps' (and scikit-learn's) bit for bit. MSVC does not contract by default.
FLAGS = [] if sys.platform == "win32" else ["-O2", "-ffp-contract=off"]

extensions = cythonize(
    [
        Extension(
            "core.reducers._hdbscan_compiled",
            ["core/reducers/_hdbscan_compiled.pyx"],
            extra_compile_args=FLAGS,
        ),
        Extension(
            "core.reducers._points_compiled",
            ["core/reducers/_points_compiled.pyx"],
            extra_compile_args=FLAGS,
        ),
        Extension("core._cells_compiled", ["core/_cells_compiled.pyx"], extra_compile_args=FLAGS),
        Extension(
            "core._classification_compiled",
            ["core/_classification_compiled.pyx"],
            extra_compile_args=FLAGS,
        ),
        Extension("tally._csv_compiled", ["tally/_csv_compiled.pyx"], extra_compile_args=FLAGS),
        Extension(
            "tally._process_compiled", ["tally/_process_compiled.pyx"], extra_compile_args=FLAGS
        ),
        Extension(
            "core.extractors._point_compiled",
            ["core/extractors/_point_compiled.pyx"],
            extra_compile_args=FLAGS,
        ),
    ],
    compiler_directives={"language_level": 3},
)
for extension in extensions:
    extension.optional = True  # set after cythonize, which does not carry it over

setup(ext_modules=extensions)
