"""Ingest speed: Concord's ingest (decode, de-identify, write the OME-Zarr pyramid, publish rows)
against SimpleITK's ImageSeriesReader + NIfTI (.nii.gz) write, on the same DICOM series.

Inputs: the real CT series in ../shared/data/totalseg-example/example_ct_dicom (skipped with a
note when absent) and a generated 512x512x600 int16 series. Last stdout line: one JSON object.
Run: .venv/bin/python bench/ingest.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
_VAR = tempfile.mkdtemp(prefix="concord-bench-ingest-")
os.environ.setdefault("CONCORD_VAR_DIR", _VAR)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")
os.environ.pop("DATABASE_URL", None)  # a private SQLite database for the bench
os.environ["STORE_URL"] = str(Path(_VAR) / "zarr")

import numpy as np  # noqa: E402

from bench._common import emit, env_info, log, summarize  # noqa: E402

REAL = REPO.parent / "shared" / "data" / "totalseg-example" / "example_ct_dicom"


def make_series(folder: Path, *, shape=(600, 512, 512), seed: int = 0) -> Path:
    """A CT series of int16 slices (HU via rescale intercept -1024), shuffled file names."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    z, y, x = shape
    yy, xx = np.mgrid[:y, :x]
    body = (((yy - y / 2) / (0.42 * y)) ** 2 + ((xx - x / 2) / (0.46 * x)) ** 2) < 1
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for k, name in enumerate(rng.permutation(z)):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        sop = generate_uid()
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = CTImageStorage, sop
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.PatientID, ds.PatientName = "CT", "BENCH-1", "Bench^Patient"
        ds.ImagePositionPatient = [-200.0, -200.0, -300.0 + 1.25 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.78, 0.78], 1.25
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = y, x, 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        plane = np.where(body, 1064, 24).astype(np.int16) + rng.normal(0, 20, (y, x)).astype(np.int16)
        ds.PixelData = plane.tobytes()
        ds.save_as(folder / f"f{int(name):05d}.dcm", enforce_file_format=True)
    return folder


def baseline(folder: Path, out: Path) -> float:
    """SimpleITK (GDCM) series read + NIfTI write, the usual conversion step."""
    import SimpleITK as sitk

    t0 = time.perf_counter()
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    sitk.WriteImage(reader.Execute(), str(out))
    return time.perf_counter() - t0


def concord(folder: Path, n: int, *, check: bool = False) -> tuple[float, bool | None]:
    """Time the ingest service; optionally compare the stored voxels with SimpleITK's."""
    from core.models import Case, Project
    from core.services.ingest import ingest
    from core.services.projects import create_project
    from core.storage import delete_volume, open_volume

    project = create_project(slug=f"bench-{n}")
    t0 = time.perf_counter()
    [case] = ingest(path=folder, project=project)
    elapsed = time.perf_counter() - t0
    url = Case.objects.select_related("volume").get(pk=case.case_id).volume.store_url
    same = None
    if check:
        import SimpleITK as sitk

        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
        same = bool(np.array_equal(open_volume(url).read(0), sitk.GetArrayFromImage(reader.Execute())))
    Project.objects.filter(pk=project.pk).delete()
    delete_volume(url)
    return elapsed, same


def run(*, repeats: int = 3, big: bool = True) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    tmp = Path(tempfile.mkdtemp(prefix="concord-bench-data-"))
    inputs = {}
    if REAL.exists():
        inputs["real_ct"] = REAL
    else:
        log(f"{REAL} absent: real-CT part skipped")
    if big:
        log("writing a 512x512x600 int16 series ...")
        inputs["phantom_512x512x600"] = make_series(tmp / "big")
    result: dict = {"bench": "ingest", "repeats": repeats}
    total_b = total_c = 0.0
    counter = 0
    for name, folder in inputs.items():
        b_times, c_times = [], []
        if len(list(folder.iterdir())) < 100:  # small input: one untimed warm-up run of each side
            baseline(folder, tmp / f"{name}-warm.nii.gz")
            counter += 1
            concord(folder, counter)
        for r in range(repeats):
            b_times.append(baseline(folder, tmp / f"{name}-{r}.nii.gz"))
            counter += 1
            c, same = concord(folder, counter, check=(r == repeats - 1))
            c_times.append(c)
            log(f"{name} run {r}: simpleitk+nifti {b_times[-1]:.2f}s, concord {c:.2f}s")
        bs, cs = summarize(b_times), summarize(c_times)
        result[name] = {"baseline_s": bs["p50"], "concord_s": cs["p50"], "speedup": bs["p50"] / cs["p50"],
                        "voxels_equal": same, "files": len(list(folder.iterdir()))}
        total_b += bs["p50"]
        total_c += cs["p50"]
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(_VAR, ignore_errors=True)
    result.update({"baseline_s": total_b, "concord_s": total_c, "speedup": total_b / total_c,
                   "baseline": "SimpleITK ImageSeriesReader + WriteImage(.nii.gz)", **env_info()})
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-big", action="store_true", help="skip the generated 512x512x600 series")
    a = p.parse_args()
    emit(run(repeats=a.repeats, big=not a.no_big))
