"""Consistency of the packaging files: pyproject, conda environment, CI."""

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

import keras_deepae

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

REPOSITORY_DIR = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPOSITORY_DIR / "pyproject.toml").read_text("utf-8"))
ENVIRONMENT = yaml.safe_load((REPOSITORY_DIR / "environment.yml").read_text("utf-8"))
CI_SCRIPT = REPOSITORY_DIR / ".ci" / "run"

INSTALL_COMMAND = 'pip install -e ".[course,test]"'
TEST_COMMAND = "python -m pytest tests course --nbval-lax -p no:cacheprovider"


def normalise(requirement):
    """One spelling per requirement: canonical name, no blanks, double quotes.

    `Scikit_Learn >= 1.3` and `scikit-learn>=1.3` both become
    `scikit-learn>=1.3`.
    """
    requirement = re.sub(r"\s+", "", requirement).replace("'", '"')
    name, rest = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(.*)", requirement).groups()
    return re.sub(r"[-_.]+", "-", name).lower() + rest


def pyproject_requirements():
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    requirements = project["dependencies"] + extras["course"] + extras["test"]
    return {normalise(requirement) for requirement in requirements}


def conda_dependencies():
    return [item for item in ENVIRONMENT["dependencies"] if isinstance(item, str)]


def pip_lines():
    [pip] = [
        item["pip"] for item in ENVIRONMENT["dependencies"] if isinstance(item, dict)
    ]
    return pip


def test_normalise_spells_requirements_one_way():
    assert normalise("Scikit_Learn >= 1.3") == "scikit-learn>=1.3"
    assert normalise("tomli>=2; python_version < '3.11'") == normalise(
        'tomli >= 2 ; python_version<"3.11"'
    )
    assert normalise("keras>=3.10,<4") != normalise("keras>=3.10")


def test_environment_is_named_and_uses_conda_forge():
    assert ENVIRONMENT["name"] == "keras-deepae"
    assert ENVIRONMENT["channels"] == ["conda-forge"]
    assert "pip" in conda_dependencies()


def test_environment_installs_the_package_with_its_extras():
    assert "-e .[course,test]" in pip_lines()


def test_environment_lists_the_pyproject_requirements():
    listed = {normalise(line) for line in pip_lines() if not line.startswith("-")}
    declared = pyproject_requirements()
    assert listed - declared == set(), "in environment.yml only"
    assert declared - listed == set(), "in pyproject.toml only"


def test_environment_python_agrees_with_requires_python():
    [python] = [spec for spec in conda_dependencies() if re.match(r"python\W", spec)]
    clauses = python.removeprefix("python").replace(" ", "").split(",")
    requires = PYPROJECT["project"]["requires-python"].replace(" ", "").split(",")
    # The lower bound is pyproject's; environment.yml may add an upper bound
    # (see its header comment), nothing else.
    assert clauses[: len(requires)] == requires
    assert all(clause.startswith("<") for clause in clauses[len(requires) :])


def test_pyproject_declares_the_deepae_script():
    assert PYPROJECT["project"]["scripts"]["deepae"] == "keras_deepae.cli:main"
    [installed] = importlib.metadata.entry_points(
        group="console_scripts", name="deepae"
    )
    assert installed.value == "keras_deepae.cli:main"
    from keras_deepae import cli

    assert installed.load() is cli.main


def test_pyproject_declares_the_extras():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"course", "test", "gpu"} <= set(extras)


def test_installed_version_is_the_pyproject_version():
    version = PYPROJECT["project"]["version"]
    assert importlib.metadata.version("keras-deepae") == version
    assert keras_deepae.__version__ == version


def test_ci_script_is_executable_bash():
    assert os.access(CI_SCRIPT, os.X_OK)
    text = CI_SCRIPT.read_text("utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    subprocess.run(["bash", "-n", str(CI_SCRIPT)], check=True)


def test_ci_script_runs_the_documented_commands():
    lines = [line.strip() for line in CI_SCRIPT.read_text("utf-8").splitlines()]
    assert any(line.startswith(INSTALL_COMMAND) for line in lines)
    assert lines.count(TEST_COMMAND) == 1
    assert any(line.startswith("ruff check . ") for line in lines)
    assert any(line.startswith("ruff format --check . ") for line in lines)


def test_course_readme_lists_every_course_notebook():
    readme = (REPOSITORY_DIR / "course" / "README.md").read_text("utf-8")
    notebooks = sorted((REPOSITORY_DIR / "course").glob("[0-9][0-9]_*.ipynb"))
    missing = [path.name for path in notebooks if f"({path.name})" not in readme]
    assert missing == [], "notebooks without a link in course/README.md"
    assert TEST_COMMAND in readme
