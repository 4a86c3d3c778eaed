"""1. Start-up: median wall time of flux2 commands beside `python -c "import typer"`.

Every command runs as a fresh subprocess timed with `time.perf_counter` around `subprocess.run`
(stdout/stderr to /dev/null). The commands are interleaved round by round, so the baseline and
flux2 see the same machine state; the first `warmup` rounds are discarded. Four groups:

- with .pyc: the installed command as it normally runs (the targets);
- no .pyc anywhere: `PYTHONDONTWRITEBYTECODE=1` and `PYTHONPYCACHEPREFIX` pointing at an empty
  directory, so Python compiles every module it imports, the standard library's too, on every
  run (a container that ships no bytecode); compared with `import typer` under the same rule;
- flux_cli without .pyc: a copy of the package with no `__pycache__`, run with
  `PYTHONDONTWRITEBYTECODE=1` (an editable or source install whose directory is not writable, or
  a container that sets the variable); everything else has its bytecode. A wheel install does
  not pay this: pip compiles the package when it installs it;
- TAB completion in each shell found on the machine (bash, zsh, fish): the shell running the
  completion script from completions/ for `flux2 generate -m `, beside the same shell doing
  nothing, and (fish) beside Typer's own script, which starts flux2 twice per TAB. Shells that
  are not installed are reported as such.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import Row, isolated_env, median, ms, temp_root, venv_bin

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "import typer"
NO_PYC_BASELINE = "import typer (no .pyc)"
TARGETS = {"flux2 --version": 1.5, "flux2 cost -m pro": 2.5}
TAB_LINE = "flux2 generate -m "

# name → (argv, extra environment, group, the baseline it is compared with)
Command = tuple[list[str], dict[str, str], str, str]


def _shell_commands(completions: Path, flux2_dir: str) -> dict[str, Command]:
    """TAB completion in each installed shell, and each shell alone."""
    path = f"{flux2_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {"PATH": path}
    bash_tab = (
        f"source {completions / 'flux2.bash'}; COMP_WORDS=(flux2 generate -m ''); "
        "COMP_CWORD=3; _flux2_completion flux2"
    )
    # zsh's script evaluates what flux2 prints inside a completion widget (compadd), which a
    # non-interactive zsh does not have: time the same single flux2 call the widget makes.
    zsh_tab = f"env _TYPER_COMPLETE_ARGS='{TAB_LINE}' _FLUX2_COMPLETE=complete_zsh flux2"
    fish_tab = "source {script}; complete -C'" + TAB_LINE + "'"
    shells: dict[str, Command] = {}
    for shell, argv, tab in (
        ("bash", ["bash", "--noprofile", "--norc", "-c"], bash_tab),
        ("zsh", ["zsh", "-f", "-c"], zsh_tab),
        ("fish", ["fish", "--no-config", "-c"], fish_tab),
    ):
        if shutil.which(shell) is None:
            continue
        shells[f"{shell} alone"] = ([*argv, "true"], env, "tab", "")
        script = tab.format(script=completions / "flux2.fish")
        shells[f"TAB in {shell}"] = ([*argv, script], env, "tab", f"{shell} alone")
        if shell == "fish":
            typer_script = tab.format(script=completions / "typer-flux2.fish")
            shells["TAB in fish, Typer's script"] = (
                [*argv, typer_script],
                env,
                "tab",
                "fish alone",
            )
    return shells


def commands(tmp: Path) -> dict[str, Command]:
    flux2 = venv_bin("flux2")
    python = sys.executable
    empty_prefix = tmp / "pycache-prefix"
    empty_prefix.mkdir()
    no_pyc = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(empty_prefix)}
    source = tmp / "source"
    shutil.copytree(
        ROOT / "flux_cli", source / "flux_cli", ignore=shutil.ignore_patterns("__pycache__")
    )
    own_no_pyc = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(source)}
    from_source = [python, "-m", "flux_cli"]
    complete = {"_FLUX2_COMPLETE": "complete_bash", "COMP_WORDS": TAB_LINE, "COMP_CWORD": "3"}
    cmds: dict[str, Command] = {
        BASELINE: ([python, "-c", "import typer"], {}, "pyc", ""),
        "flux2 --version": ([flux2, "--version"], {}, "pyc", BASELINE),
        "flux2 --help": ([flux2, "--help"], {}, "pyc", BASELINE),
        "flux2 cost -m pro": ([flux2, "cost", "-m", "pro"], {}, "pyc", BASELINE),
        "TAB completion (generate -m )": ([flux2], complete, "pyc", BASELINE),
        NO_PYC_BASELINE: ([python, "-c", "import typer"], no_pyc, "no-pyc", ""),
        "flux2 --version (no .pyc)": ([flux2, "--version"], no_pyc, "no-pyc", NO_PYC_BASELINE),
        "flux2 --help (no .pyc)": ([flux2, "--help"], no_pyc, "no-pyc", NO_PYC_BASELINE),
        "flux2 cost -m pro (no .pyc)": (
            [flux2, "cost", "-m", "pro"],
            no_pyc,
            "no-pyc",
            NO_PYC_BASELINE,
        ),
        "flux2 --version (flux_cli without .pyc)": (
            [*from_source, "--version"],
            own_no_pyc,
            "own",
            BASELINE,
        ),
        "flux2 --help (flux_cli without .pyc)": (
            [*from_source, "--help"],
            own_no_pyc,
            "own",
            BASELINE,
        ),
        "flux2 cost -m pro (flux_cli without .pyc)": (
            [*from_source, "cost", "-m", "pro"],
            own_no_pyc,
            "own",
            BASELINE,
        ),
    }
    completions = tmp / "completions"
    shutil.copytree(ROOT / "completions", completions)
    from typer._completion_shared import COMPLETION_SCRIPT_FISH  # Typer's own, for comparison

    typer_fish = COMPLETION_SCRIPT_FISH % {
        "complete_func": "_flux2_completion",
        "prog_name": "flux2",
        "autocomplete_var": "_FLUX2_COMPLETE",
    }
    (completions / "typer-flux2.fish").write_text(typer_fish)
    cmds.update(_shell_commands(completions, str(Path(flux2).parent)))
    return cmds


def _once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """Wall time, CPU time (user + system, the child's) and exit code of one run. The CPU time
    barely moves when other work shares the machine; the wall time is what a person waits.
    `cwd` is not the checkout, so `python -m flux_cli` imports the package it is meant to."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, proc.returncode


def flux2_processes_per_tab(tmp: Path, script: Path) -> int | None:
    """How many flux2 processes fish starts for one TAB with `script`; None without fish."""
    if shutil.which("fish") is None:
        return None
    wrapper_dir = tmp / "counting-bin"
    wrapper_dir.mkdir(exist_ok=True)
    log = wrapper_dir / "calls"
    log.write_text("")
    wrapper = wrapper_dir / "flux2"
    wrapper.write_text(f'#!/bin/sh\necho x >> "{log}"\nexec "{venv_bin("flux2")}" "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{wrapper_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(
        ["fish", "--no-config", "-c", f"source {script}; complete -C'{TAB_LINE}'"],
        env=env,
        capture_output=True,
        check=False,
    )
    return len(log.read_text().splitlines())


def mcp_sdk_loaded_by_help() -> bool | None:
    """Whether `flux2 --help` imports the MCP SDK; None when the mcp extra is not installed."""
    if importlib.util.find_spec("mcp") is None:
        return None
    code = (
        "import sys\nfrom flux_cli.cli.main import run\ntry:\n    run(['--help'])\n"
        "except SystemExit:\n    pass\n"
        "print(any(m == 'mcp' or m.startswith(('mcp.', 'pydantic')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip().endswith("True")


def run(runs: int = 15, warmup: int = 2) -> list[Row]:
    with temp_root("startup") as tmp_name:
        tmp = Path(tmp_name)
        cmds = commands(tmp)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        cpu: dict[str, list[float]] = {name: [] for name in cmds}
        codes: dict[str, set[int]] = {name: set() for name in cmds}
        base_env = isolated_env(tmp)
        for round_no in range(warmup + runs):
            for name, (argv, extra, _group, _base) in cmds.items():
                elapsed, used, code = _once(argv, {**base_env, **extra}, tmp)
                codes[name].add(code)
                if round_no >= warmup:
                    times[name].append(elapsed)
                    cpu[name].append(used)
        ours = flux2_processes_per_tab(tmp, tmp / "completions" / "flux2.fish")
        typers = flux2_processes_per_tab(tmp, tmp / "completions" / "typer-flux2.fish")
    rows = [_row(name, cmds[name], times, cpu, codes) for name in cmds]
    for shell in ("bash", "zsh", "fish"):
        if shutil.which(shell) is None:
            rows.append(Row("start-up", f"TAB in {shell}", "not installed", "", None))
    if ours is not None:
        rows.append(
            Row(
                "start-up",
                "flux2 processes per TAB in fish",
                f"{ours} (Typer's own script: {typers})",
                "1",
                ours == 1,
                {"ours": ours, "typer": typers},
            )
        )
    loaded = mcp_sdk_loaded_by_help()
    rows.append(
        Row(
            "start-up",
            "flux2 --help imports the MCP SDK",
            "extra not installed" if loaded is None else ("yes" if loaded else "no"),
            "no",
            None if loaded is None else not loaded,
        )
    )
    return rows


def _row(
    name: str,
    command: Command,
    times: dict[str, list[float]],
    cpu: dict[str, list[float]],
    codes: dict[str, set[int]],
) -> Row:
    _argv, _env, group, base = command
    value = median(times[name])
    data: dict[str, object] = {
        "median_s": value,
        "min_s": min(times[name], default=float("nan")),
        "max_s": max(times[name], default=float("nan")),
        "runs_s": times[name],
        "cpu_median_s": median(cpu[name]),
        "cpu_min_s": min(cpu[name], default=float("nan")),
        "cpu_max_s": max(cpu[name], default=float("nan")),
        "exit": sorted(codes[name]),
        "group": group,
    }
    note = "" if codes[name] == {0} else f" (exit {sorted(codes[name])})"
    if base:
        data["cpu_ratio"] = median(cpu[name]) / median(cpu[base])
    label = _label(name)
    if not base:
        return Row("start-up", label + note, ms(value), "baseline", None, data)
    reference = median(times[base])
    if group == "tab":
        # What flux2 adds to the shell's own start.
        extra = value - reference
        data["flux2_s"] = extra
        typer = median(times.get(BASELINE, []))
        extra_cpu = median(cpu[name]) - median(cpu[base])
        typer_cpu = median(cpu.get(BASELINE, []))
        return Row(
            "start-up",
            label + note,
            f"{ms(value)} = {_label(base)} + {ms(extra)} ({extra / typer:.2f}× typer; "
            f"CPU {extra_cpu / typer_cpu:.2f}×)",
            "",
            None,
            data,
        )
    ratio = value / reference
    data["ratio"] = ratio
    limit = TARGETS.get(name)
    return Row(
        "start-up",
        label + note,
        f"{ms(value)} = {ratio:.2f}× typer"
        + (" (no .pyc)" if base == NO_PYC_BASELINE else "")
        + f"; CPU {data['cpu_ratio']:.2f}×",
        f"≤ {limit}× typer" if limit else "",
        (ratio <= limit) if limit else None,
        data,
    )


def _label(name: str) -> str:
    if name == BASELINE:
        return f'python -c "{BASELINE}"'
    if name == NO_PYC_BASELINE:
        return f'python -c "{BASELINE}" (no .pyc)'
    return name
