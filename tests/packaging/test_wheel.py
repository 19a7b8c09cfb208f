"""Packaging: what ``pip install courtroom`` (and the Docker image) gives a user.

The static check reads every module of the installed packages and requires each
third-party import to be a ``[project.dependencies]`` entry: a dev-only
dependency imported at run time would start locally and fail for a user.

The wheel test builds the wheel the Dockerfile builds, from the build context
the Dockerfile sees (``.dockerignore`` applied, its ``COPY`` lines replayed),
installs it into a fresh venv without the dev extras, and runs every console
script there, from a directory outside the checkout so nothing is imported
from the source tree. Dependencies come from pip's configured index and cache.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from protocol import GENESIS_HASH, entry_hash

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGES = ("server", "protocol", "store", "timers", "clients")
SCRIPTS = tuple(PYPROJECT["project"]["scripts"])


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec)
    assert match, spec
    return _canon(match.group(0))


def _imported_top_levels(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_every_runtime_import_is_a_declared_dependency() -> None:
    declared = {_requirement_name(s) for s in PYPROJECT["project"]["dependencies"]}
    dev = {_requirement_name(s) for s in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == [
        f"{p}*" for p in PACKAGES
    ], "PACKAGES above must list what the wheel ships"
    dists = importlib.metadata.packages_distributions()
    missing: dict[str, list[str]] = {}
    seen: set[str] = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for top in _imported_top_levels(path):
                if top in sys.stdlib_module_names or top in PACKAGES:
                    continue
                seen.add(top)
                names = {_canon(d) for d in dists.get(top, [])}
                if not names & declared:
                    missing.setdefault(top, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"imported at run time but not in [project.dependencies]: {missing}"
    # The check has teeth: the client's HTTP library is imported and is a runtime dependency.
    assert "httpx2" in seen and "httpx2" in declared and "httpx2" not in dev


# --- the Docker build context and the wheel it builds --------------------------------


def _dockerignore_rules() -> list[tuple[bool, str]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        rules.append((keep, line.lstrip("!").strip("/")))
    return rules


def _pattern_matches(pattern: str, rel: str) -> bool:
    """Docker's rule: a pattern matches a path or one of its parent directories.

    Enough of Go's ``filepath.Match`` for this file: ``*`` stays within one
    component, and a leading ``**/`` matches at any depth.
    """
    parts = rel.split("/")
    if pattern.startswith("**/"):
        return any(fnmatch.fnmatchcase(p, pattern[3:]) for p in parts)
    want = pattern.split("/")
    return len(want) <= len(parts) and all(
        fnmatch.fnmatchcase(p, w) for p, w in zip(parts, want, strict=False)
    )


def build_context() -> list[str]:
    """The files ``docker build .`` would send, by the rules in ``.dockerignore``."""
    rules = _dockerignore_rules()
    sent = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            rel = str((Path(dirpath) / name).relative_to(ROOT))
            excluded = False
            for keep, pattern in rules:  # the last matching rule wins
                if _pattern_matches(pattern, rel):
                    excluded = not keep
            if not excluded:
                sent.append(rel)
    return sent


def _build_stage_copies() -> list[tuple[list[str], str]]:
    """The ``COPY src... dest`` lines of the Dockerfile's first stage."""
    copies: list[tuple[list[str], str]] = []
    stages = 0
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "FROM":
            stages += 1
        elif words[0] == "COPY" and stages == 1:
            assert not words[1].startswith("--"), line
            copies.append((words[1:-1], words[-1]))
    return copies


def test_docker_context_is_small_and_holds_what_the_dockerfile_copies() -> None:
    context = set(build_context())
    assert not any(p.startswith((".venv/", ".git", "tests/", "bench/")) for p in context)
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in context)
    size = sum((ROOT / p).stat().st_size for p in context)
    assert size < 5_000_000, f"the build context is {size} bytes"
    copies = _build_stage_copies()
    copied = {src for sources, _ in copies for src in sources}
    # Every package the wheel ships is copied, with the files setuptools needs.
    assert copied == {"pyproject.toml", "README.md", *PACKAGES}
    for src in copied:
        assert any(p == src or p.startswith(src + "/") for p in context), src
    assert "server/static/index.html" in context


def _run(
    cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _chain(n: int) -> list[dict[str, object]]:
    sid = "0b9f4a52-0d0e-4c55-a1a8-3e3f9f1c2d7a"
    prev = GENESIS_HASH
    out: list[dict[str, object]] = []
    for seq in range(1, n + 1):
        ts = f"2026-02-15T10:00:{seq:02d}.000000+00:00"
        details = {"text": f"note {seq}", "n": seq}
        h = entry_hash(sid, seq, ts, "NOTE", "7", details, prev)
        out.append(
            {
                "session_id": sid,
                "sequence_number": seq,
                "timestamp": ts,
                "event_type": "NOTE",
                "actor_id": "7",
                "details": details,
                "previous_hash": prev,
                "hash": h,
            }
        )
        prev = h
    return out


@pytest.mark.packaging
def test_wheel_installs_and_every_console_script_runs(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for rel in build_context():
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, context / rel)
    src = tmp_path / "src"
    src.mkdir()
    for sources, dest in _build_stage_copies():
        for s in sources:
            target = src / (Path(dest) / s.rsplit("/", 1)[-1] if dest.endswith("/") else dest)
            if (context / s).is_dir():
                shutil.copytree(context / s, target)
            else:
                shutil.copy2(context / s, target)
    wheels = tmp_path / "wheels"
    # The Dockerfile's command: `pip wheel --no-deps --wheel-dir /wheels .`
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), "."],
        cwd=src,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("courtroom-*.whl")

    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    bin_ = venv / "bin"
    installed = _run([str(bin_ / "python"), "-m", "pip", "install", "-q", str(wheel)])
    assert installed.returncode == 0, installed.stderr

    # Outside the checkout, with nothing on PYTHONPATH: only the installed wheel is importable.
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "COURTROOM_"))}
    env["COURTROOM_DATA_DIR"] = str(work / "data")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _run(list(args), cwd=work, env=env)

    freeze = run(str(bin_ / "python"), "-m", "pip", "list", "--format=freeze")
    names = {_canon(line.split("==")[0]) for line in freeze.stdout.splitlines()}
    assert "courtroom" in names
    # No dev extra came along: the test tools must not be what makes the scripts work.
    for dev_only in ("pytest", "hypothesis", "mypy", "ruff", "playwright"):
        assert dev_only not in names, dev_only

    # Every module of every package imports from the wheel (lazy imports included).
    walk = run(
        str(bin_ / "python"),
        "-c",
        "import importlib, pkgutil, sys\n"
        f"for top in {PACKAGES!r}:\n"
        "    mod = importlib.import_module(top)\n"
        "    assert 'site-packages' in mod.__file__, mod.__file__\n"
        "    for info in pkgutil.walk_packages(mod.__path__, top + '.'):\n"
        "        importlib.import_module(info.name)\n"
        # The wheel carries the C modules, built where the Dockerfile builds them.
        "from protocol.merkle import extend, extend_native, levels, levels_native\n"
        "assert extend_native is not None and extend is extend_native\n"
        "assert levels_native is not None and levels is levels_native\n"
        "import protocol._chain as c\n"
        "assert c.feed_rows_native is not None and c._feed is c.feed_rows_native\n"
        "assert c.entry_hash_native is not None\n"
        "assert c.entry_hash_canonical is c.entry_hash_native\n"
        "import store._verify as v\n"
        "assert v.native_verify is not None\n"
        "import protocol._canonical as k\n"
        "assert k.first_noncanonical is k.first_noncanonical_c\n"
        "import importlib.resources as r\n"
        "assert r.files('server').joinpath('static/index.html').is_file()\n"
        "print('imported')\n",
    )
    assert walk.returncode == 0 and "imported" in walk.stdout, walk.stderr

    assert set(SCRIPTS) == {"courtroom", "courtroom-client"}
    for script in SCRIPTS:
        helped = run(str(bin_ / script), "--help")
        assert helped.returncode == 0, helped.stderr
        assert "Usage:" in helped.stdout
        for command in re.findall(r"^  (\S+)  ", helped.stdout.split("Commands:")[1], re.M):
            sub = run(str(bin_ / script), command, "--help")
            assert sub.returncode == 0, (script, command, sub.stderr)

    good = work / "export.jsonl"
    entries = _chain(5)
    good.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in entries))
    ok = run(str(bin_ / "courtroom-client"), "verify", str(good))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip() == f"valid: 5 entries, head {entries[-1]['hash']}"

    entries[2]["details"] = {"text": "rewritten", "n": 3}
    bad = work / "tampered.jsonl"
    bad.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in entries))
    refused = run(str(bin_ / "courtroom-client"), "verify", str(bad))
    assert refused.returncode == 1
    assert "first bad entry is sequence 3" in refused.stdout
