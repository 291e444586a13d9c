"""DICOM series reading: ordering, geometry, rescale, enhanced multi-frame, SimpleITK agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from core.ingest import discover, load_series
from core.ingest.dicom import load_dicom_series
from tests.conftest import shared_data

from .conftest import write_series

KEY = b"test-key"


def _sitk(files: list[Path]) -> sitk.Image:
    folder = str(files[0].parent)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    return reader.Execute()


def _assert_matches_sitk(image, ref: sitk.Image) -> None:
    np.testing.assert_array_equal(image.array, sitk.GetArrayFromImage(ref))
    np.testing.assert_allclose(image.geometry.spacing, ref.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(image.geometry.origin, ref.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(image.geometry.direction, ref.GetDirection(), atol=1e-4)


@pytest.mark.realdata
def test_real_series_matches_simpleitk():
    folder = shared_data("totalseg-example") / "example_ct_dicom"
    files = sorted(folder.iterdir())
    image = load_dicom_series(files, key=KEY, source_name="series-1")
    assert image.array.dtype == np.int16 and image.array.shape == (20, 512, 512)
    _assert_matches_sitk(image, _sitk(files))
    assert image.geometry.spacing[2] == pytest.approx(2.0)  # from positions, not SliceThickness 3
    assert image.attributes["slice_thickness"] == 3.0
    assert image.attributes["contrast"] is True
    assert image.modality == "CT"
    assert len(image.dicom_headers) == 20
    assert all("PixelData" not in h for h in image.dicom_headers)
    z = [float(h.ImagePositionPatient[2]) for h in image.dicom_headers]
    assert z == sorted(z)  # headers in array order


@pytest.mark.realdata
def test_real_folder_discovered_as_one_series():
    root = shared_data("totalseg-example")
    dicom = [s for s in discover(root) if s.kind == "dicom"]
    assert len(dicom) == 1 and len(dicom[0].files) == 20
    assert dicom[0].source_name == "series-1"


@pytest.mark.parametrize(
    "orientation",
    [
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),  # axial
        (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),  # coronal
        (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),  # sagittal
        (0.8660254, 0.5, 0.0, -0.3535534, 0.6123724, 0.7071068),  # oblique
    ],
)
def test_synthetic_series_matches_simpleitk(tmp_path, orientation):
    files, raw = write_series(tmp_path / "s", n=6, orientation=orientation, spacing_z=1.25)
    image = load_series(discover(tmp_path / "s")[0], key=KEY)
    _assert_matches_sitk(image, _sitk(files))
    np.testing.assert_array_equal(image.array, raw.astype(np.int16) - 1024)


def test_order_ignores_filenames_and_instance_numbers(tmp_path):
    files, raw = write_series(tmp_path, n=5, names=["e.dcm", "d.dcm", "c.dcm", "b.dcm", "a.dcm"])
    image = load_dicom_series(list(reversed(files)), key=KEY, source_name="series-1")
    np.testing.assert_array_equal(image.array, raw.astype(np.int16) - 1024)
    assert image.geometry.origin == pytest.approx((-10.0, 20.0, 30.0))
    assert image.geometry.spacing == pytest.approx((0.6, 0.7, 2.5))  # x = column spacing


def test_descending_positions_give_origin_at_lowest_projection(tmp_path):
    positions = [(0.0, 0.0, 10.0 - 2.0 * k) for k in range(4)]
    files, raw = write_series(tmp_path, n=4, positions=positions)
    image = load_dicom_series(files, key=KEY, source_name="series-1")
    assert image.geometry.origin == pytest.approx((0.0, 0.0, 4.0))
    np.testing.assert_array_equal(image.array, raw[::-1].astype(np.int16) - 1024)
    assert image.geometry.direction[8] == pytest.approx(1.0)


def test_non_integer_rescale_gives_float32(tmp_path):
    files, raw = write_series(tmp_path, n=3, per_slice={k: {"RescaleSlope": 0.5} for k in range(3)})
    image = load_dicom_series(files, key=KEY, source_name="series-1")
    assert image.array.dtype == np.float32
    np.testing.assert_allclose(image.array, raw * 0.5 - 1024)


def _enhanced(tmp_path: Path, n: int = 4, shared_orientation: bool = True) -> tuple[Path, np.ndarray]:
    """Enhanced CT multi-frame built with pydicom from a small synthetic series."""
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 2000, size=(n, 5, 7)).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.PatientID = "MF-PATIENT"
    ds.Rows, ds.Columns = 5, 7
    ds.NumberOfFrames = n
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    order = [2, 0, 3, 1]  # frames stored out of position order
    ds.PixelData = np.stack([raw[i] for i in order]).tobytes()

    def item(**kw: object) -> Dataset:
        d = Dataset()
        for k, v in kw.items():
            setattr(d, k, v)
        return d

    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([item(PixelSpacing=[0.5, 0.4], SliceThickness=1.0)])
    shared.PixelValueTransformationSequence = Sequence(
        [item(RescaleSlope=1, RescaleIntercept=-1000, RescaleType="HU")]
    )
    if shared_orientation:
        shared.PlaneOrientationSequence = Sequence([item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    for i in order:
        g = Dataset()
        g.PlanePositionSequence = Sequence([item(ImagePositionPatient=[1.0, 2.0, 3.0 + 1.5 * i])])
        if not shared_orientation:
            g.PlaneOrientationSequence = Sequence([item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])])
        per.append(g)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    path = tmp_path / "enhanced.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, raw


@pytest.mark.parametrize("shared_orientation", [True, False])
def test_enhanced_multiframe(tmp_path, shared_orientation):
    path, raw = _enhanced(tmp_path, shared_orientation=shared_orientation)
    sources = discover(tmp_path)
    assert len(sources) == 1 and sources[0].kind == "dicom"
    image = load_series(sources[0], key=KEY)
    np.testing.assert_array_equal(image.array, raw.astype(np.int16) - 1000)
    assert image.geometry.spacing == pytest.approx((0.4, 0.5, 1.5))
    assert image.geometry.origin == pytest.approx((1.0, 2.0, 3.0))
    assert len(image.dicom_headers) == 1 and "PixelData" not in image.dicom_headers[0]
    assert image.patient_pseudonym and "MF-PATIENT" not in str(image.dicom_headers[0])


def test_load_series_is_picklable(tmp_path):
    import pickle

    write_series(tmp_path, n=3)
    source = discover(tmp_path)[0]
    image = pickle.loads(pickle.dumps(load_series))(pickle.loads(pickle.dumps(source)), key=KEY)
    assert pickle.loads(pickle.dumps(image)).array.shape == (3, 6, 8)
