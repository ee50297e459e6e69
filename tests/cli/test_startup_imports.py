"""What each command of the recipe imports: the start-up every run pays (docs/benchmarks.md 4.16).

Each command runs in a fresh interpreter on a small simulated project; the modules it imported
are those in ``sys.modules`` when it exits (``-X importtime`` misses ``importlib.import_module``).
A module appearing here again costs every run its import time: numpy 80-120 ms, dataclasses with
inspect and ast 10 ms, orjson 3-4 ms, the stream commands' parser modules. (PyYAML, 12-15 ms, is imported by every command
that reads or writes a config: the project reads YAML with the library, not by hand.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tally.simulate import SimulationParams, simulate

REDUCER_CONFIG = "Reducer_config_workflow_21434_V46.103_{}.yaml"
#: Never needed by a batch command: the other subcommands' parsers and the stream stack.
NEVER = {"tally.commands.aggregate", "tally.commands.worker", "stream", "asyncio", "tqdm"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("project")
    simulate(d, SimulationParams(classifications=60, subjects=6, seed=3))
    out = d / "out"
    (out / "config").mkdir(parents=True)
    _imports(d, "config", d / "penguin-watch-sim-workflows.csv", "21434", "-d", out / "config")
    _imports(d, "extract", d / "penguin-watch-sim-classifications.csv",
             d / "Extractor_config_workflow_21434_V46.103.yaml", "-d", out)  # fmt: skip
    return d


def _imports(cwd: Path, *argv: str | os.PathLike[str]) -> set[str]:
    """The modules ``tally ARGV`` imports (the console script's entry point, in a subprocess)."""
    code = (
        "import os, sys\n"
        "def report(status, exit=os._exit):\n"  # batch commands end with os._exit
        "    print('MODULES', *sorted(sys.modules), file=sys.stderr, flush=True)\n"
        "    exit(status)\n"
        "os._exit = report\n"
        "from tally.cli import console_main\n"
        "sys.argv[0] = 'tally'\n"
        "console_main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, argv)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(re.search(r"^MODULES (.*)$", done.stderr, flags=re.MULTILINE).group(1).split())


def _top_packages(modules: set[str]) -> set[str]:
    return modules | {name.split(".")[0] for name in modules}


def test_config_imports_neither_dataclasses_nor_numpy(project):
    modules = _top_packages(
        _imports(
            project,
            "config",
            project / "penguin-watch-sim-workflows.csv",
            "21434",
            "-d",
            project / "out" / "config",
        )  # fmt: skip
    )
    # typing (3-4 ms): its modules import it only for type checkers (TYPE_CHECKING = False)
    unwanted = modules & ({"dataclasses", "inspect", "numpy", "orjson", "typing"} | NEVER)
    assert not unwanted
    assert "tally.commands.config" in modules and "tally.commands.reduce" not in modules


def test_extract_imports_neither_numpy_nor_hashlib(project):
    modules = _top_packages(
        _imports(
            project,
            "extract",
            project / "penguin-watch-sim-classifications.csv",
            project / "out" / "config" / "Extractor_config_workflow_21434_V46.103.yaml",
            "-d",
            project / "out",
        )  # fmt: skip
    )
    # hashlib (OpenSSL, ~4 ms): only the stream's pipelines need their config digest
    unwanted = modules & ({"numpy", "hashlib"} | NEVER)
    assert not unwanted


def _reduce_imports(project: Path, extractor: str) -> set[str]:
    """The top packages and modules ``tally reduce -F all`` of the recipe's ``extractor`` file imports."""
    out = project / "out"
    config = project / REDUCER_CONFIG.format(extractor)
    extracts = out / f"{extractor}_extractions.csv"
    return _top_packages(_imports(project, "reduce", extracts, config, "-d", out, "-F", "all"))


@pytest.mark.parametrize("extractor", ["question_extractor", "shortcut_extractor"])
def test_counting_reducers_import_no_numpy(project, extractor):
    # orjson (with uuid and platform, 12 M instructions): they never read or write a JSON cell;
    # queue (with threading, 1.5 ms): a small reduce makes no pool; dataclasses, inspect and
    # ast (≈ 45 M, a seventh of the start): params are core.params.Params, and Python-literal
    # cells are read without them; pkgutil: the registry loads one reducer module by name
    unwanted = _reduce_imports(project, extractor) & (
        {"numpy", "multiprocessing", "orjson", "queue", "threading"}
        | {"dataclasses", "inspect", "ast", "pkgutil"}
        | NEVER
    )
    assert not unwanted


def test_point_reducer_imports_no_sklearn(project):
    unwanted = _reduce_imports(project, "point_extractor_by_frame") & ({"sklearn"} | NEVER)
    assert not unwanted
