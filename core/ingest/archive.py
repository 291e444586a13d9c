"""Safe extraction of uploaded zip archives before discovery.

An upload is untrusted: members may try to escape the target folder (``..``, absolute paths,
symlinks) or expand to far more data than was sent (zip bombs). Both are refused before a
single byte is written.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from core.errors import InvalidInput

__all__ = ["extract_zip", "MAX_MEMBERS", "MAX_TOTAL_BYTES", "MAX_RATIO"]

MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 20 * 2**30  # 20 GiB uncompressed
#: Largest accepted compression ratio of one member; DICOM and NIfTI rarely exceed 20.
MAX_RATIO = 1000


def _check_member(zip_path: Path, info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename.replace("\\", "/")
    p = PurePosixPath(name)
    if p.is_absolute() or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise InvalidInput(f"{zip_path.name}: member {info.filename!r} has an absolute path")
    if ".." in p.parts:
        raise InvalidInput(f"{zip_path.name}: member {info.filename!r} escapes the folder ('..')")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InvalidInput(f"{zip_path.name}: member {info.filename!r} is a symbolic link")
    return p


def extract_zip(
    zip_path: Path,
    dest: Path,
    *,
    max_members: int = MAX_MEMBERS,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_ratio: int = MAX_RATIO,
) -> Path:
    """Extract ``zip_path`` into ``dest`` after checking every member.

    Args:
        zip_path: the uploaded archive.
        dest: folder to extract into (created if missing).
        max_members, max_total_bytes, max_ratio: zip-bomb limits (count, uncompressed bytes,
            uncompressed/compressed per member).

    Returns:
        ``dest``.

    Raises:
        InvalidInput: not a zip, a member escaping ``dest`` or a symlink (named), or limits
            exceeded. Sizes are also enforced while streaming, in case the header lies.
    """
    zip_path = Path(zip_path)
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise InvalidInput(f"{zip_path.name}: not a readable zip archive ({err})") from err
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise InvalidInput(
                f"{zip_path.name}: zip bomb refused: {len(infos)} members, limit {max_members}"
            )
        total = sum(i.file_size for i in infos)
        if total > max_total_bytes:
            raise InvalidInput(
                f"{zip_path.name}: zip bomb refused: {total} bytes uncompressed, "
                f"limit {max_total_bytes}"
            )
        paths = []
        for info in infos:
            p = _check_member(zip_path, info)
            if info.file_size > 1_000_000 and info.file_size > max_ratio * max(info.compress_size, 1):
                raise InvalidInput(
                    f"{zip_path.name}: zip bomb refused: member {info.filename!r} expands "
                    f"{info.file_size / max(info.compress_size, 1):.0f} times"
                )
            paths.append(p)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        written = 0
        for info, p in zip(infos, paths):
            target = (root / Path(*p.parts)).resolve() if p.parts else root
            if target != root and root not in target.parents:
                raise InvalidInput(f"{zip_path.name}: member {info.filename!r} escapes the folder")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > max_total_bytes:
                        raise InvalidInput(
                            f"{zip_path.name}: zip bomb refused: more than {max_total_bytes} "
                            "bytes uncompressed"
                        )
                    out.write(chunk)
    return dest


