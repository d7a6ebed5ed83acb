"""The bundle's constraints file: every distribution the packaged app is built from, pinned.

    .venv/bin/python packaging/lock.py            # write packaging/constraints/<platform>.txt
    .venv/bin/python packaging/lock.py --check    # exit 1 if the installed versions differ

The pins are read from this environment (the one the bundle was built and tested with) for
the requirements in pyproject.toml and its ``package`` extra (PyInstaller, zstandard), with
everything they need, markers evaluated here. ``packaging/build.py`` refuses to build from an environment that
differs (``--unlocked`` overrides), so a bundle can be made again from the same versions:

    pip install -c packaging/constraints/linux-x86_64.txt -e '.[package]'
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import platform
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.notices import canonical, requirement_closure  # noqa: E402

EXTRA = "package"
HEADER = """\
# Constraints for building the ResLens bundle on {platform} (Python {python}).
# Made by packaging/lock.py from the environment the bundle was built and tested with; use it as
#   pip install -c packaging/constraints/{name} -e '.[package]'
# and remake it (python packaging/lock.py) after changing that environment on purpose.
"""


def platform_name() -> str:
    """``linux-x86_64``, ``win32-amd64``, ``darwin-arm64``: one constraints file each."""
    return f"{sys.platform}-{platform.machine().lower()}"


def constraints_path() -> Path:
    return ROOT / "packaging" / "constraints" / f"{platform_name()}.txt"


def declared(extra: str = EXTRA) -> list[str]:
    """The run-time requirements in pyproject.toml plus the ``extra`` ones, for this machine."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = project["dependencies"] + project["optional-dependencies"][extra]
    reqs = [Requirement(line) for line in lines]
    return [canonical(r.name) for r in reqs if r.marker is None or r.marker.evaluate()]


def locked_distributions() -> dict[str, str]:
    """{distribution: installed version} for the app and the build tools, recursively."""
    names: set[str] = set()
    for name in declared():
        names |= {name, *requirement_closure(name)}
    return {name: md.version(name) for name in sorted(names)}


def render(pins: dict[str, str]) -> str:
    head = HEADER.format(
        platform=platform_name(), python=platform.python_version(), name=constraints_path().name
    )
    return head + "".join(f"{name}=={version}\n" for name, version in pins.items())


def read_constraints(path: Path) -> dict[str, str]:
    """{distribution: pinned version} from a constraints file (comments skipped)."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name)] = version.strip()
    return pins


def differences(path: Path) -> list[str]:
    """What the installed environment does differently from the constraints file at ``path``."""
    pins = read_constraints(path)
    found = []
    for name, version in pins.items():
        try:
            installed = md.version(name)
        except md.PackageNotFoundError:
            found.append(f"{name}=={version} is not installed")
            continue
        if installed != version:
            found.append(f"{name} {installed} is installed, {path.name} pins {version}")
    return found


def unpinned(path: Path) -> list[str]:
    """Installed distributions the constraints file does not name: optional imports can pull
    them into a bundle (the first build carried pyarrow from a development venv)."""
    pins = set(read_constraints(path)) | {"reslens", "pip"}
    installed = {canonical(d.metadata["Name"] or "") for d in md.distributions()}
    return sorted(installed - pins)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    path = constraints_path()
    if args.check:
        problems = differences(path)
        print("\n".join(problems) or f"the environment matches {path}")
        return 1 if problems else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(locked_distributions()), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
