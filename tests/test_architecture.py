"""The floors of the house (docs/architecture.md) as a contract: import-linter's contracts in
pyproject.toml hold for the package, and a deliberate upward import breaks them."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports")
pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter is not installed (pip install -e '.[test]')")


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--config", str(tree / "pyproject.toml"), "--no-cache"], cwd=tree,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=300)


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "normtheory", tree / "normtheory", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_contracts_hold():
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "BROKEN" not in out.stdout and "KEPT" in out.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("bounds/_upward.py", "from normtheory.verify import registry\n", "floors"),
    ("figures/_sideways.py", "import normtheory.verify.report\n", "floors"),
    ("bounds/_heavy.py", "import torch\n", "the closed forms import neither torch nor numba"),
    ("kernels/_heavy.py", "def f():\n    import torch\n    return torch\n", "the numba kernels do not import torch"),
])
def test_a_deliberate_violation_breaks_a_contract(tmp_path, module, line, contract):
    tree = _copy(tmp_path)
    (tree / "normtheory" / module).write_text(line)
    out = _lint(tree)
    assert out.returncode != 0, out.stdout[-3000:]
    broken = out.stdout[out.stdout.index("Broken contracts"):]
    assert contract in broken and module.split("/")[1].removesuffix(".py") in broken, broken
