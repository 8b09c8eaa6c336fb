"""The shape of the house is enforced: ``make lint`` runs import-linter's contracts (``.importlinter``)
and they hold on the code as it is; an import that runs the wrong way breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed (pip install -e '.[dev]')")


def lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), str(ROOT / ".importlinter"), "--no-cache"],
                          cwd=tree, capture_output=True, text=True, env={"PYTHONPATH": str(tree), "PATH": ""})


def copy_of_the_package(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "ledger", tmp_path / "ledger", ignore=shutil.ignore_patterns("__pycache__", "static"))
    return tmp_path


def test_the_contracts_hold(tmp_path):
    result = lint(copy_of_the_package(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("module", "wrong_import", "broken"), [
    ("core/money.py", "import sqlalchemy", "The core is pure"),
    ("journal/service.py", "import ledger.practices.service", "Layers"),
    ("revenue/close.py", "import ledger.succession.service", "Layers"),
    ("practices/service.py", "import flask", "know no web framework"),
    ("read/entries.py", "import ledger.api.transaction", "Layers"),
    ("governance/effects.py", "import ledger.governance.service", "No import cycle"),
])
def test_a_wrong_arrow_breaks_the_lint(tmp_path, module, wrong_import, broken):
    tree = copy_of_the_package(tmp_path)
    path = tree / "ledger" / module
    path.write_text(path.read_text() + f"\n{wrong_import}  # the wrong arrow\n")
    result = lint(tree)
    assert result.returncode != 0
    assert broken in result.stdout and "BROKEN" in result.stdout
