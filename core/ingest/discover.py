"""Find the images (and their label files and manifest attributes) in an upload.

Rules, in order (kept simple on purpose; see ``discover``):

1. ``root`` may be a folder, a single image file or a ``.zip`` (extracted safely first).
2. DICOM files are recognised by content, whatever their name, and grouped by
   SeriesInstanceUID (files without one are grouped per folder).
3. NIfTI (.nii, .nii.gz) and NRRD (.nrrd, .nhdr) files are recognised by name.
4. In every *sub*folder of ``root``, volume files whose name matches ``label_pattern``
   (default: ``rater-*``, ``*label*``, ``*seg*``, ``*mask*``) are labels. If the folder holds
   exactly one image (one other volume file, or one DICOM series), it is a *case folder*: one
   source, case_key = folder name, labels keyed by file stem ("rater-1"). With several images,
   a label goes to the image whose stem prefixes its own ("t2" <- "t2_seg-manual"); a label
   that matches no image is an error.
5. Directly in ``root``, every volume file is an image unless ``label_pattern`` is given
   explicitly (then rule 4 applies there too): a loose file named ``*_seg`` is as likely an
   image someone wants annotated as a label.
6. A ``manifest.csv`` in ``root`` or in any folder supplies attributes to the sources whose
   case_key equals its ``case_id``.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
from pathlib import Path

from core.errors import InvalidInput
from core.ingest.archive import extract_zip
from core.ingest.dicom import is_dicom, read_dicom_header
from core.ingest.manifest import MANIFEST_NAME, read_manifest
from core.ingest.types import SeriesSource
from core.ingest.volumes import stem, volume_kind

__all__ = ["discover", "DEFAULT_LABEL_PATTERNS"]

DEFAULT_LABEL_PATTERNS = ("rater-*", "*label*", "*seg*", "*mask*")
_SKIP_SUFFIXES = (
    ".csv", ".md", ".txt", ".json", ".py", ".html", ".pdf", ".xml", ".yaml", ".yml",
    ".png", ".jpg", ".jpeg", ".raw", ".raw.gz", ".zraw", ".gz", ".zip", ".sh",
)


def _is_label(name: str, patterns: tuple[str, ...]) -> bool:
    s = name.lower()
    return any(fnmatch.fnmatch(s, p.lower()) for p in patterns)


def _walk(root: Path) -> list[Path]:
    """All regular files under ``root``, sorted; symlinks and hidden/__MACOSX entries skipped."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if name.startswith(".") or p.is_symlink() or not p.is_file():
                continue
            out.append(p)
    return out


def _patterns(label_pattern: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if label_pattern is None:
        return DEFAULT_LABEL_PATTERNS
    return (label_pattern,) if isinstance(label_pattern, str) else tuple(label_pattern)


def discover(
    root: Path,
    *,
    label_pattern: str | tuple[str, ...] | None = None,
    workdir: Path | None = None,
) -> list[SeriesSource]:
    """List the images under ``root`` (rules in the module docstring).

    Args:
        root: folder, single file, or .zip archive.
        label_pattern: glob(s) naming label files (case-insensitive); None = defaults in
            subfolders and no labels at the top level.
        workdir: where a .zip is extracted (a new temporary folder if None; the caller removes
            it after loading).

    Returns:
        Sources sorted by case_key then source_name; files are absolute paths.

    Raises:
        InvalidInput: missing root, unsafe zip, unreadable DICOM header, bad manifest, label
            without an image, or "no image found in <root>".
    """
    root = Path(root)
    if not root.exists():
        raise InvalidInput(f"{root.name}: no such file or folder")
    if root.is_file() and root.name.lower().endswith(".zip"):
        dest = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="concord-ingest-"))
        root = extract_zip(root, dest)
    if root.is_file():
        return _single_file(root)

    patterns = _patterns(label_pattern)
    top_labels = label_pattern is not None
    manifests: dict[str, dict] = {}
    volumes: dict[Path, list[Path]] = {}  # folder -> volume files
    dicom_groups: dict[tuple[str, Path | None], list[Path]] = {}
    for path in _walk(root):
        if path.name.lower() == MANIFEST_NAME:
            manifests.update(read_manifest(path))
            continue
        if volume_kind(path):
            volumes.setdefault(path.parent, []).append(path)
            continue
        if path.name.lower().endswith(_SKIP_SUFFIXES) and not _has_dicm(path):
            continue
        if not is_dicom(path):
            continue
        ds = read_dicom_header(path)
        uid = str(ds.get("SeriesInstanceUID", "") or "").strip()
        dicom_groups.setdefault((uid, None if uid else path.parent), []).append(path)

    # images per folder: (kind, files, series_uid)
    images: dict[Path, list[tuple[str, tuple[Path, ...], str | None]]] = {}
    labels: dict[Path, list[Path]] = {}
    for (uid, _), files in sorted(dicom_groups.items(), key=lambda kv: str(sorted(kv[1])[0])):
        folder = Path(os.path.commonpath([str(f.parent) for f in files]))
        images.setdefault(folder, []).append(("dicom", tuple(sorted(files)), uid))
    for folder, files in volumes.items():
        for f in files:
            if (folder != root or top_labels) and _is_label(f.name, patterns):
                labels.setdefault(folder, []).append(f)
            else:
                images.setdefault(folder, []).append((volume_kind(f) or "", (f,), None))

    for folder, labs in labels.items():
        if folder not in images:
            raise InvalidInput(f"{labs[0].name}: label file without an image in its folder {_rel(folder, root)}")

    sources: list[SeriesSource] = []
    n_series = 0
    for folder in sorted(images):
        imgs = images[folder]
        labs = labels.get(folder, [])
        case_folder = folder != root and len(imgs) == 1
        assigned: dict[int, dict[str, Path]] = {i: {} for i in range(len(imgs))}
        for lab in labs:
            if case_folder:
                assigned[0][stem(lab)] = lab
                continue
            owners = [
                i for i, (kind, files, _) in enumerate(imgs)
                if kind != "dicom" and stem(lab).lower().startswith(stem(files[0]).lower() + "_")
            ]
            if len(owners) != 1:
                raise InvalidInput(
                    f"{lab.name}: cannot tell which image this label belongs to in "
                    f"{_rel(folder, root)} ({len(imgs)} images)"
                )
            img_stem = stem(imgs[owners[0]][1][0])
            assigned[owners[0]][stem(lab)[len(img_stem) + 1:]] = lab
        for i, (kind, files, uid) in enumerate(imgs):
            if kind == "dicom":
                n_series += 1
                name = f"series-{n_series}"
            else:
                name = _rel(files[0], root)
            case_key = folder.name if case_folder else (name if kind == "dicom" else stem(files[0]))
            sources.append(
                SeriesSource(
                    kind=kind,  # type: ignore[arg-type]
                    files=files,
                    series_uid=uid,
                    case_key=case_key,
                    label_files=dict(sorted(assigned[i].items())),
                    attributes=dict(manifests.get(case_key, {})),
                    source_name=name,
                )
            )
    if not sources:
        raise InvalidInput(f"no image found in {root.name or root}")
    return sorted(sources, key=lambda s: (s.case_key, s.source_name))


def _has_dicm(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def _rel(path: Path, root: Path) -> str:
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = path.name
    return rel if rel != "." else root.name


def _single_file(path: Path) -> list[SeriesSource]:
    kind = volume_kind(path)
    if kind:
        return [SeriesSource(kind=kind, files=(path,), case_key=stem(path), source_name=path.name)]  # type: ignore[arg-type]
    if is_dicom(path):
        ds = read_dicom_header(path)
        uid = str(ds.get("SeriesInstanceUID", "") or "").strip()
        return [
            SeriesSource(kind="dicom", files=(path,), series_uid=uid, case_key="series-1", source_name="series-1")
        ]
    raise InvalidInput(f"{path.name}: no image found (not DICOM, NIfTI or NRRD)")
