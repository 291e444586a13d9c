"""Build the GPU bench kit in the git-ignored folder ``.gpu/`` (run here, then carry it to the device host).

Why a kit: the device host has no internet and its Python has torch but neither SimpleITK nor MONAI,
so the pure-python wheels the benches need (monai, nibabel, geomloss, at the versions pinned in
requirements.lock) travel with the working tree; and the device tool carries at most 64 MiB, which
the shared LIDC crops (128x128 in-plane) exceed, so each volume is centre-cropped in-plane to 64x64.
bench/uncertainty.py and bench/active_learning.py crop to the centre 64x64 anyway, so their results
on the kit are identical to those on the full crops.

Writes into OUT (default .gpu):
  whl/      pip download --no-deps --only-binary=:all: --python-version 3.12 of the pinned versions
  lidc/     every NIfTI volume cut to columns/rows 32-95 (all slices), origin moved by the crop offset,
            spacing, header and sform/qform codes unchanged; manifest.csv, ratings.csv, README.md copied
  run.sh    a copy of scripts/gpu-bench/run.sh
Everything is built in a temporary folder next to OUT first; when OUT already holds a kit, its
volumes for a few cases must equal the new ones (array bytes, dtype, affine, header) before anything
is replaced. Also adds /.gpu/ to .git/info/exclude and prints the kit's total size.

    .venv/bin/python scripts/gpu-bench/prepare.py [--data ../shared/data/lidc] [--out .gpu]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("monai", "nibabel", "geomloss")
FULL, CROP = 128, 64
LO = (FULL - CROP) // 2  # 32: keep columns/rows 32..95
MAX_MIB = 55.0  # the device tool carries 64 MiB in all, working tree included
N_COMPARE = 6  # cases compared against an existing kit


def pinned_versions(lock: Path) -> dict[str, str]:
    """The ``name==version`` pins for PACKAGES in requirements.lock."""
    pins: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)", line.strip())
        if m and m.group(1).lower() in PACKAGES:
            pins[m.group(1).lower()] = m.group(2)
    missing = [p for p in PACKAGES if p not in pins]
    if missing:
        sys.exit(f"prepare: {lock} pins no version for {', '.join(missing)}")
    return pins


def download_wheels(dest: Path, pins: dict[str, str]) -> None:
    """Pure-python wheels of exactly the pinned versions, without dependencies (the host has the rest)."""
    dest.mkdir(parents=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.12", "--dest", str(dest), *(f"{p}=={v}" for p, v in pins.items())]
    if subprocess.run(cmd).returncode != 0:
        sys.exit("prepare: pip download failed (needs the package index): " + " ".join(cmd))
    wheels = sorted(dest.glob("*.whl"))
    for p, v in pins.items():
        if not any(w.name.lower().startswith(f"{p}-{v}-") for w in wheels):
            sys.exit(f"prepare: no wheel for {p}=={v} in {dest}")
    impure = [w.name for w in wheels if not w.name.endswith("-none-any.whl")]
    if impure or len(wheels) != len(pins):
        sys.exit(f"prepare: expected {len(pins)} pure-python wheels, got {[w.name for w in wheels]}")


def crop_volume(src: Path, dst: Path) -> None:
    """Centre 64x64 in-plane of one volume; the origin moves to voxel (32, 32, 0), all else is kept."""
    img = nib.load(src)
    if img.shape[:2] != (FULL, FULL):
        raise ValueError(f"{src}: in-plane shape {img.shape[:2]}, expected {(FULL, FULL)}")
    hdr = img.header.copy()
    data = np.asanyarray(img.dataobj)[LO:LO + CROP, LO:LO + CROP, ...]
    aff = img.affine.copy()
    aff[:3, 3] = img.affine[:3, :3] @ np.array([LO, LO, 0]) + img.affine[:3, 3]
    out = nib.Nifti1Image(data, aff, header=hdr)
    out.set_sform(aff, code=int(hdr["sform_code"]))
    out.set_qform(aff, code=int(hdr["qform_code"]))
    dst.parent.mkdir(parents=True, exist_ok=True)
    nib.save(out, dst)


def _crop_case(args: tuple[Path, Path]) -> int:
    src_case, dst_case = args
    vols = sorted(src_case.glob("*.nii.gz"))
    for v in vols:
        crop_volume(v, dst_case / v.name)
    return len(vols)


def crop_dataset(data: Path, dest: Path) -> int:
    """All case folders of ``data`` cropped into ``dest``, top-level files copied; returns the volume count."""
    dest.mkdir(parents=True)
    for f in sorted(p for p in data.iterdir() if p.is_file()):
        shutil.copy2(f, dest / f.name)
    cases = sorted(p for p in data.iterdir() if p.is_dir())
    with ProcessPoolExecutor() as pool:
        return sum(pool.map(_crop_case, [(c, dest / c.name) for c in cases], chunksize=16))


def volumes(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*.nii.gz"))


def same_volume(a: Path, b: Path) -> str | None:
    """None when the two volumes match in array bytes, dtype, shape, affine and header; else why not."""
    ia, ib = nib.load(a), nib.load(b)
    da, db = np.asanyarray(ia.dataobj), np.asanyarray(ib.dataobj)
    if da.dtype != db.dtype or da.shape != db.shape or da.tobytes() != db.tobytes():
        return f"array differs ({da.dtype}{da.shape} vs {db.dtype}{db.shape})"
    if not np.array_equal(ia.affine, ib.affine):
        return f"affine differs:\n{ia.affine}\nvs\n{ib.affine}"
    if ia.header.binaryblock != ib.header.binaryblock:
        return "header differs"
    return None


def check(new: Path, data: Path, old: Path | None) -> None:
    """The new crop against the source (crop of the full arrays) and, when present, the existing kit."""
    names = volumes(new)
    if names != volumes(data):
        sys.exit(f"prepare: {new} does not hold the same volumes as {data}")
    cases = sorted({n.split("/")[0] for n in names})
    picks = [cases[i * (len(cases) - 1) // (N_COMPARE - 1)] for i in range(N_COMPARE)]
    for case in picks:
        for v in sorted((new / case).glob("*.nii.gz")):
            src, dst = nib.load(data / case / v.name), nib.load(v)
            full = np.asanyarray(src.dataobj)
            if not np.array_equal(np.asanyarray(dst.dataobj), full[LO:LO + CROP, LO:LO + CROP]):
                sys.exit(f"prepare: {v} is not the centre crop of {data / case / v.name}")
    if old is None:
        print(f"checked {len(picks)} cases against the source crops (no existing kit to compare)")
        return
    if volumes(old) != names:
        sys.exit(f"prepare: existing {old} holds other volumes than the new crop; left as is")
    for case in picks:
        for v in sorted((new / case).glob("*.nii.gz")):
            why = same_volume(v, old / case / v.name)
            if why:
                sys.exit(f"prepare: {case}/{v.name} differs from the existing kit: {why}; left as is")
    print(f"checked {len(picks)} cases against the source and the existing {old}: identical")


def exclude_kit() -> None:
    """Add /.gpu/ to .git/info/exclude (the kit is never committed)."""
    git = subprocess.run(["git", "rev-parse", "--git-path", "info/exclude"], cwd=REPO,
                         capture_output=True, text=True)
    if git.returncode != 0:
        print("prepare: not a git checkout; .git/info/exclude left alone", file=sys.stderr)
        return
    exclude = (REPO / git.stdout.strip()).resolve()
    lines = exclude.read_text().splitlines() if exclude.exists() else []
    if "/.gpu/" not in (ln.strip() for ln in lines):
        exclude.parent.mkdir(parents=True, exist_ok=True)
        exclude.write_text("\n".join([*lines, "/.gpu/"]) + "\n")
        print(f"added /.gpu/ to {exclude}")


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "lidc",
                    help="LIDC folder (128x128 crops in the Concord LIDC layout)")
    ap.add_argument("--out", type=Path, default=REPO / ".gpu", help="kit folder (default: .gpu)")
    args = ap.parse_args()
    data, out = args.data.resolve(), args.out.resolve()
    if not (data.is_dir() and (data / "manifest.csv").is_file()):
        sys.exit(f"prepare: LIDC data folder {data} is missing (or has no manifest.csv); "
                 "pass --data PATH to the shared LIDC crops")
    run_sh = REPO / "scripts" / "gpu-bench" / "run.sh"
    pins = pinned_versions(REPO / "requirements.lock")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        download_wheels(tmp / "whl", pins)
        print("wheels:", ", ".join(w.name for w in sorted((tmp / "whl").glob("*.whl"))))
        n = crop_dataset(data, tmp / "lidc")
        print(f"cropped {n} volumes from {data}")
        old = out / "lidc" if (out / "lidc").is_dir() else None
        check(tmp / "lidc", data, old)
        out.mkdir(exist_ok=True)
        for part in ("whl", "lidc"):
            if (out / part).exists():
                shutil.rmtree(out / part)
            (tmp / part).rename(out / part)
        shutil.copy2(run_sh, out / "run.sh")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    exclude_kit()
    parts = {p: tree_size(out / p) if (out / p).is_dir() else (out / p).stat().st_size
             for p in ("whl", "lidc", "run.sh")}
    total = tree_size(out) / 2**20
    print(f"kit in {out}: " + ", ".join(f"{p} {s / 2**20:.1f} MiB" for p, s in parts.items())
          + f"; total {total:.1f} MiB (limit ~{MAX_MIB:.0f} MiB; the device tool carries 64 MiB)")
    if total > MAX_MIB:
        sys.exit(f"prepare: kit is {total:.1f} MiB, over ~{MAX_MIB:.0f} MiB: it would not fit the 64 MiB carry")


if __name__ == "__main__":
    main()
