"""Tests of the `deepae` command line on a small generated course."""

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from keras_deepae import __version__, cli

# Prints where it runs, with which Python and which profile, and a headline.
REPORTING_CELL = """\
import os, sys
print("HEADLINE: an early headline, replaced by the next one")
print("cwd=" + os.getcwd())
print("python=" + sys.executable)
print("HEADLINE: profile=" + os.environ["DEEPAE_PROFILE"])
"""


def write_course(course_dir):
    """Writes a two-notebook course: 01 fails, 02 prints its headline."""
    course_dir.mkdir(parents=True)
    failing = new_notebook(
        cells=[
            new_markdown_cell("# Fails in its second code cell"),
            new_code_cell("print('HEADLINE: reached before the failure')"),
            new_code_cell("1 / 0"),
            new_code_cell("print('never runs')"),
        ]
    )
    nbformat.write(failing, course_dir / "01_failing.ipynb")
    reporting = new_notebook(cells=[new_code_cell(REPORTING_CELL)])
    nbformat.write(reporting, course_dir / "02_reporting.ipynb")
    # Neither is a course notebook: no two-digit prefix, not a notebook.
    nbformat.write(new_notebook(), course_dir / "scratch.ipynb")
    (course_dir / "notes.md").write_text("not a notebook\n")
    return course_dir


def run_main(argv):
    """Runs `cli.main(argv)` in this process; returns (status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = cli.main(argv)
        except SystemExit as exit_:
            status = exit_.code
    return status, stdout.getvalue(), stderr.getvalue()


def result_lines(stdout):
    """The per-notebook result lines, keyed by notebook name."""
    lines = {}
    for line in stdout.splitlines():
        words = line.split()
        if words and words[0] in ("ok", "FAILED"):
            lines[words[1]] = line
    return lines


def stdout_lines(executed_notebook):
    notebook = nbformat.read(executed_notebook, as_version=4)
    return [
        line
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("name") == "stdout"
        for line in output.text.splitlines()
    ]


@pytest.fixture(scope="module")
def course_run(tmp_path_factory):
    """One in-process `deepae course` run over the generated course."""
    root = tmp_path_factory.mktemp("course_run")
    course_dir = write_course(root / "course")
    output_dir = root / "executed"
    status, stdout, stderr = run_main(
        [
            "course",
            "--course-dir",
            str(course_dir),
            "--output-dir",
            str(output_dir),
            "--profile",
            "full",
            "--timeout",
            "60",
        ]
    )
    return {
        "status": status,
        "stdout": stdout,
        "stderr": stderr,
        "course_dir": course_dir,
        "output_dir": output_dir,
    }


@pytest.mark.slow
def test_course_prints_one_line_per_notebook_and_fails(course_run):
    assert course_run["status"] == 1
    stdout = course_run["stdout"]
    assert "running 01_failing.ipynb ..." in stdout
    assert "running 02_reporting.ipynb ..." in stdout
    assert stdout.index("running 01_failing") < stdout.index("running 02_reporting")
    lines = result_lines(stdout)
    assert sorted(lines) == ["01_failing.ipynb", "02_reporting.ipynb"]
    assert lines["01_failing.ipynb"].startswith("FAILED")
    assert lines["02_reporting.ipynb"].startswith("ok")
    assert " s " in lines["02_reporting.ipynb"]
    assert "2 notebooks, 1 failed" in stdout


@pytest.mark.slow
def test_course_reports_the_failing_cell_and_runs_the_rest(course_run):
    stdout = course_run["stdout"]
    assert "cell 2: ZeroDivisionError: division by zero" in stdout
    assert "Traceback" not in stdout
    # The notebook after the failing one still ran, with its own headline.
    assert result_lines(stdout)["02_reporting.ipynb"].endswith("profile=full")


@pytest.mark.slow
def test_course_writes_executed_notebooks_and_html(course_run):
    output_dir = course_run["output_dir"]
    written = sorted(path.name for path in output_dir.iterdir())
    assert written == [
        "01_failing.html",
        "01_failing.ipynb",
        "02_reporting.html",
        "02_reporting.ipynb",
    ]
    assert "profile=full" in (output_dir / "02_reporting.html").read_text()
    # The failing notebook is kept up to its error, which the output shows.
    failing = stdout_lines(output_dir / "01_failing.ipynb")
    assert failing == ["HEADLINE: reached before the failure"]


@pytest.mark.slow
def test_course_kernel_runs_in_course_dir_on_this_python(course_run):
    lines = stdout_lines(course_run["output_dir"] / "02_reporting.ipynb")
    assert f"cwd={course_run['course_dir']}" in lines
    assert f"python={sys.executable}" in lines


def test_find_headline_takes_the_last_headline_line():
    notebook = new_notebook(
        cells=[
            new_code_cell("", outputs=[_stdout("HEADLINE: first\n")]),
            new_markdown_cell("HEADLINE: markdown does not count"),
            new_code_cell("", outputs=[_stdout("loss 0.1\nHEADLINE:  acc 0.97 \n")]),
            new_code_cell("", outputs=[_stdout("a HEADLINE: mid-line does not\n")]),
        ]
    )
    assert cli.find_headline(notebook) == "acc 0.97"
    assert cli.find_headline(new_notebook()) is None


def _stdout(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_list_prints_course_notebooks_in_order(tmp_path):
    course_dir = write_course(tmp_path / "course")
    status, stdout, _ = run_main(["course", "--list", "--course-dir", str(course_dir)])
    assert status == 0
    assert stdout.splitlines() == ["01_failing.ipynb", "02_reporting.ipynb"]


@pytest.mark.parametrize(
    "only, expected",
    [
        (["02"], ["02_reporting.ipynb"]),
        (["reporting"], ["02_reporting.ipynb"]),
        (["01_fail"], ["01_failing.ipynb"]),
        (["02_reporting.ipynb", "01"], ["01_failing.ipynb", "02_reporting.ipynb"]),
    ],
)
def test_only_selects_by_prefix_or_name(tmp_path, only, expected):
    course_dir = write_course(tmp_path / "course")
    argv = ["course", "--list", "--course-dir", str(course_dir), "--only", *only]
    status, stdout, _ = run_main(argv)
    assert status == 0
    assert stdout.splitlines() == expected


def test_only_with_an_unknown_notebook_is_an_error(tmp_path):
    course_dir = write_course(tmp_path / "course")
    argv = ["course", "--course-dir", str(course_dir), "--only", "02", "07"]
    status, _, stderr = run_main(argv)
    assert status == 2
    assert "--only 07: no such notebook" in stderr
    assert "01_failing.ipynb 02_reporting.ipynb" in stderr


def test_bad_profile_option_is_an_error(tmp_path):
    course_dir = write_course(tmp_path / "course")
    argv = ["course", "--course-dir", str(course_dir), "--profile", "fast"]
    status, _, stderr = run_main(argv)
    assert status == 2
    assert "invalid choice: 'fast'" in stderr


def test_bad_profile_variable_is_an_error(tmp_path, monkeypatch):
    course_dir = write_course(tmp_path / "course")
    monkeypatch.setenv("DEEPAE_PROFILE", "fast")
    status, _, stderr = run_main(["course", "--list", "--course-dir", str(course_dir)])
    assert status == 2
    assert "DEEPAE_PROFILE='fast' is not a run profile" in stderr


def test_missing_course_dir_option_is_an_error(tmp_path):
    missing = tmp_path / "no_such_course"
    status, _, stderr = run_main(["course", "--list", "--course-dir", str(missing)])
    assert status == 2
    assert f"--course-dir {missing} is not a directory" in stderr


def test_course_dir_is_found_in_the_repository_then_the_current_dir(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(cli, "REPOSITORY_DIR", tmp_path / "repository")
    monkeypatch.chdir(tmp_path)
    status, _, stderr = run_main(["course", "--list"])
    assert status == 2
    assert "course directory not found" in stderr
    assert str(tmp_path / "repository" / "course") in stderr
    assert "--course-dir" in stderr

    write_course(tmp_path / "course")
    assert cli.find_course_dir() == (tmp_path / "course").resolve()
    write_course(tmp_path / "repository" / "course")
    assert cli.find_course_dir() == (tmp_path / "repository" / "course").resolve()


def test_default_course_dir_is_the_repository_course():
    assert cli.REPOSITORY_DIR == Path(__file__).resolve().parent.parent


def test_empty_course_is_an_error(tmp_path):
    (tmp_path / "course").mkdir()
    status, _, stderr = run_main(["course", "--course-dir", str(tmp_path / "course")])
    assert status == 2
    assert "no NN_*.ipynb notebooks" in stderr


def test_lab_opens_jupyterlab_on_the_course(tmp_path, monkeypatch):
    course_dir = write_course(tmp_path / "course")
    calls = []

    class FakePopen:
        def __init__(self, command, env):
            calls.append((command, env))

        def wait(self):
            return 0

    monkeypatch.setattr(cli.subprocess, "Popen", FakePopen)
    argv = ["course", "--lab", "--course-dir", str(course_dir), "--profile", "full"]
    status, _, _ = run_main([*argv, "--", "--no-browser", "--port", "8890"])
    assert status == 0
    [(command, env)] = calls
    assert command == [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={course_dir.resolve()}",
        "--no-browser",
        "--port",
        "8890",
    ]
    assert env["DEEPAE_PROFILE"] == "full"


def test_stray_arguments_without_lab_are_an_error(tmp_path):
    course_dir = write_course(tmp_path / "course")
    status, _, stderr = run_main(["course", "--course-dir", str(course_dir), "01"])
    assert status == 2
    assert "unexpected arguments 01" in stderr
    assert "--only" in stderr


def test_version_and_help():
    status, stdout, _ = run_main(["--version"])
    assert status == 0
    assert stdout.strip() == f"keras-deepae {__version__}"
    status, stdout, _ = run_main(["--help"])
    assert status == 0
    assert "course" in stdout
    status, stdout, _ = run_main([])
    assert status == 2
    assert "usage: deepae" in stdout


@pytest.mark.slow
def test_module_runs_outside_an_activated_environment(tmp_path):
    """`python -m keras_deepae.cli` with this env's bin/ off PATH, no profile set."""
    course_dir = write_course(tmp_path / "course")
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DEEPAE_PROFILE", "VIRTUAL_ENV", "PYTHONPATH")
    }
    env["PATH"] = "/usr/bin:/bin"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    command = [sys.executable, "-m", "keras_deepae.cli", "course"]
    command += ["--course-dir", str(course_dir), "--only", "reporting"]
    completed = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = result_lines(completed.stdout)
    assert list(lines) == ["02_reporting.ipynb"]
    assert lines["02_reporting.ipynb"].endswith("profile=quick")
    output_dir = tmp_path / "build" / "course"
    assert sorted(path.name for path in output_dir.iterdir()) == [
        "02_reporting.html",
        "02_reporting.ipynb",
    ]
    assert f"python={sys.executable}" in stdout_lines(output_dir / "02_reporting.ipynb")
