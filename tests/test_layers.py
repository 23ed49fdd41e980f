"""Dependencies point one way (DESIGN.md, "Layers"), checked by import-linter's contracts in
pyproject.toml: ``cli -> engine -> {models, kernels}``, ``export -> models``, and kernels
import only kernels, errors and the device value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
         "sys.exit(lint_imports_command())", "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    # every contract in pyproject.toml was checked, none skipped or missing
    contracts = (ROOT / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")
    assert contracts >= 2
    assert f"Contracts: {contracts} kept, 0 broken." in result.stdout
