"""The README's commands and Python snippet work as written."""

import os
import re
import subprocess
import sys
from networks import REPO

README = (REPO / "README.md").read_text()


def test_readme_opens_with_setup_and_test_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert "pip install -e" in block[0] and "neurocc compile examples/" in block[0]
    assert "neurocc verify" in block[0] and "pytest" in block[1]
    # CI runs exactly these two commands
    ci = (REPO / ".ci" / "run").read_text()
    assert block[0] in ci and block[1] in ci


def test_python_snippet_runs(tmp_path):
    snippet = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    snippet = snippet.replace('"examples/', f'"{REPO}/examples/').replace('"out/', f'"{tmp_path}/')
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True,
                            cwd=tmp_path, env={**os.environ}, timeout=600)
    assert result.returncode == 0, result.stderr
    cores, error = result.stdout.split()
    assert int(cores) >= 1 and 0 <= float(error) < 0.1
    assert (tmp_path / "tiny-se1" / "config.json").is_file()
    assert (tmp_path / "tiny-se1" / "caer.txt").is_file()
