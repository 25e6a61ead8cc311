"""vfiocompat completion: scripts generated from the real parser load in each shell and complete its commands."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from vfiocompat._cli import build_parser, main

SCRIPT = Path(sys.executable).parent / "vfiocompat"


def _console() -> str:
    found = str(SCRIPT) if SCRIPT.exists() else shutil.which("vfiocompat")
    if found is None:
        pytest.skip("the vfiocompat console script is not installed")
    return found


def _subcommands() -> Dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def _shell(shell: str, script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VC": _console(), "HOME": str(cwd)}
    return subprocess.run([shell, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_bash_loads_the_script_and_registers_it(tmp_path: Path) -> None:
    result = _shell("bash", 'source <("$VC" completion bash) && complete -p vfiocompat', tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "complete -o bashdefault -F _shtab_vfiocompat vfiocompat"


def _bash_complete(words: List[str], tmp_path: Path) -> List[str]:
    line = " ".join(words)
    quoted = " ".join(f"'{w}'" for w in words)
    script = (f'source <("$VC" completion bash) || exit 9\nCOMP_WORDS=({quoted})\n'
              f"COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n"
              '_shtab_vfiocompat vfiocompat "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    result = _shell("bash", script, tmp_path)
    assert result.returncode == 0, result.stderr
    return sorted(filter(None, result.stdout.splitlines()))


def test_bash_completes_every_subcommand_the_parser_has(tmp_path: Path) -> None:
    names = sorted(_subcommands())
    assert {"check", "labels", "completion", "new-plugin"} <= set(names)
    assert _bash_complete(["vfiocompat", ""], tmp_path) == names
    assert _bash_complete(["vfiocompat", "la"], tmp_path) == [n for n in names if n.startswith("la")]


def test_bash_completes_options_choices_and_files(tmp_path: Path) -> None:
    labels = _subcommands()["labels"]
    [form] = [a for a in labels._actions if "--format" in a.option_strings]
    assert _bash_complete(["vfiocompat", "labels", "--format", ""], tmp_path) == sorted(form.choices or ())
    options = sorted(o for a in labels._actions for o in a.option_strings if o.startswith("--o"))
    assert _bash_complete(["vfiocompat", "labels", "--o"], tmp_path) == options == ["--output-dir"]
    (tmp_path / "fleet.json").write_text("[]")
    (tmp_path / "tables").mkdir()
    assert "fleet.json" in _bash_complete(["vfiocompat", "check", "--table", ""], tmp_path)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_loads_the_script_and_lists_every_subcommand(tmp_path: Path) -> None:
    # _describe is zsh's completion-system lister; a stand-in prints what the script hands it.
    script = ('autoload -Uz compinit && compinit -u -d "$HOME/.zcompdump" || exit 8\n'
              'eval "$("$VC" completion zsh)" || exit 9\n'
              'print -r -- "registered=${_comps[vfiocompat]}"\n'
              '_describe() { print -rl -- "${(@P)2}" }\n'
              '_shtab_vfiocompat_commands\n')
    result = _shell("zsh", script, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "registered=_shtab_vfiocompat"
    assert sorted(line.split(":", 1)[0] for line in lines[1:]) == sorted(_subcommands())


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_finds_the_script_saved_in_fpath(tmp_path: Path) -> None:
    functions = tmp_path / "zfunc"
    functions.mkdir()
    with (functions / "_vfiocompat").open("w") as handle:
        subprocess.run([_console(), "completion", "zsh"], stdout=handle, check=True, timeout=60)
    script = (f'fpath=({functions} $fpath)\nautoload -Uz compinit && compinit -u -d "$HOME/.zcompdump" || exit 8\n'
              'print -r -- "${_comps[vfiocompat]}"\n')
    result = _shell("zsh", script, tmp_path)
    assert (result.returncode, result.stdout) == (0, "_vfiocompat\n"), result.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_loads_the_script_and_completes_every_subcommand(tmp_path: Path) -> None:
    result = _shell("fish", '"$VC" completion fish | source; or exit 9; complete -C "vfiocompat "', tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(line.split("\t", 1)[0] for line in result.stdout.splitlines()) == sorted(_subcommands())
    result = _shell("fish", '"$VC" completion fish | source; complete -C "vfiocompat labels --format "', tmp_path)
    assert sorted(line.split("\t", 1)[0] for line in result.stdout.splitlines()) == [
        "k8s", "nfd", "nova-provider-config", "placement"]


def test_unknown_shell_is_a_usage_error() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["completion", "tcsh"], out, err) == 2
    assert out.getvalue() == "" and err.getvalue().count("\n") == 1 and "invalid choice: 'tcsh'" in err.getvalue()


def test_without_shtab_one_line_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "shtab", None)  # import shtab now raises ImportError
    out, err = io.StringIO(), io.StringIO()
    assert main(["completion", "bash"], out, err) == 2
    assert (out.getvalue(), err.getvalue()) == ("", "vfiocompat: error[VC001]: completion needs the shtab package:"
                                                    " pip install 'vfiocompat[completion]' (or pip install"
                                                    " 'shtab>=1.9')\n")


def test_shtab_is_imported_only_by_the_completion_command() -> None:
    code = ("import sys, io\nfrom vfiocompat._cli import build_parser, main\nbuild_parser()\n"
            "main(['schema'], io.StringIO(), io.StringIO())\nprint('shtab' in sys.modules)\n"
            "main(['completion', 'bash'], io.StringIO(), io.StringIO())\nprint('shtab' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.split() == ["False", "True"], result.stderr
