"""Builders of small synthetic DICOM CT series (with PHI, or broken on purpose) for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

PHI = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN-99812345",
    "PatientBirthDate": "19580704",
    "PatientAddress": "12 Elm Street Springfield",
    "PatientTelephoneNumbers": "555-0199-321",
    "OtherPatientIDs": "OLDMRN-424242",
    "InstitutionName": "St Mercy Hospital",
    "InstitutionAddress": "1 Hospital Road Shelbyville",
    "ReferringPhysicianName": "House^Gregory",
    "PerformingPhysicianName": "Cuddy^Lisa",
    "OperatorsName": "Tech^Tommy",
    "AccessionNumber": "ACC5551234",
    "StudyID": "STUDY777",
    "StationName": "CTROOM9XYZ",
    "DeviceSerialNumber": "SN998877",
    "ImageComments": "Jane phoned about results",
    "StudyDescription": "Chest for Jane Doe",
    "RequestingPhysician": "Wilson^James",
    "StudyDate": "20190311",
    "StudyTime": "101112",
}


def make_ct_series(folder: Path, *, n: int = 4, rows: int = 16, cols: int = 16, pixel_spacing=(0.7, 0.7),
                   z0: float = -100.0, dz: float = 2.5, iop=(1, 0, 0, 0, 1, 0), phi: dict | None = None,
                   series_uid: str | None = None, study_uid: str | None = None, slope: float = 1.0,
                   intercept: float = -1024.0, seed: int = 0, names: list[str] | None = None) -> list[Path]:
    """Write ``n`` single-frame CT slices (shuffled file names) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    phi = PHI if phi is None else phi
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid()
    row_c, col_c = np.array(iop[:3], float), np.array(iop[3:], float)
    normal = np.cross(row_c, col_c)
    paths = []
    order = rng.permutation(n)
    for i in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        sop = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = "CT"
        ds.Manufacturer = "ACME Medical"
        ds.PatientSex = "F"
        ds.PatientAge = "066Y"
        ds.SliceThickness = dz
        ds.KVP = 120
        ds.SeriesNumber = 3
        ds.InstanceNumber = int(order[i]) + 1  # deliberately not the spatial order
        for k, v in phi.items():
            setattr(ds, k, v)
        if phi:
            ds.add_new((0x0009, 0x0010), "LO", "ACME PRIVATE")
            ds.add_new((0x0009, 0x1001), "LO", "private note Jane Doe MRN-99812345")
        pos = np.array([-10.0, -20.0, 0.0]) + normal * (z0 + i * dz)
        ds.ImagePositionPatient = [float(v) for v in pos]
        ds.ImageOrientationPatient = [float(v) for v in iop]
        ds.PixelSpacing = [float(pixel_spacing[0]), float(pixel_spacing[1])]
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.PixelData = (rng.integers(0, 2000, size=(rows, cols)).astype(np.int16) + i).tobytes()
        path = folder / (names[i] if names else f"img{order[i]:04d}.dcm")
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def read(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)
