"""De-identification: no PHI left anywhere, stable keyed pseudonyms and UIDs."""

from __future__ import annotations

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from core.ingest import UidMap, deidentify, discover, load_series, pseudonym

from .conftest import write_series

PHI = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN-998877",
    "PatientBirthDate": "19600415",
    "PatientAddress": "12 Elm Street Springfield",
    "PatientTelephoneNumbers": "555-0101",
    "OtherPatientIDs": "ALT-4455",
    "PatientMotherBirthName": "Smith^Mary",
    "InstitutionName": "Springfield General",
    "InstitutionAddress": "1 Hospital Road",
    "ReferringPhysicianName": "House^Gregory",
    "PerformingPhysicianName": "Wilson^James",
    "OperatorsName": "Cuddy^Lisa",
    "PhysiciansOfRecord": "Chase^Robert",
    "AccessionNumber": "ACC-24680",
    "StudyID": "STUDY-1357",
    "StationName": "CTROOM-7",
    "DeviceSerialNumber": "SN-000111",
    "StudyDate": "20230102",
    "StudyTime": "101112",
    "ImageComments": "patient Jane Doe, ward 4",
    "StudyDescription": "CT chest for Jane",
}


def _walk_strings(ds: Dataset) -> list[str]:
    out = [str(ds.file_meta)] if hasattr(ds, "file_meta") else []
    for elem in ds.iterall():
        if elem.VR != "SQ":
            out.append(str(elem.value))
    return out


def _phi_series(tmp_path):
    extra = dict(PHI)
    extra["PatientAge"] = "062Y"
    extra["PatientSex"] = "F"
    files, _ = write_series(tmp_path / "s", n=3, per_slice={k: extra for k in range(3)})
    for f in files:
        ds = pydicom.dcmread(f)
        block = ds.private_block(0x0011, "ACME PHI", create=True)
        block.add_new(0x01, "LO", "Doe^Jane private")
        item = Dataset()
        item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
        item.PersonName = "Doe^Jane"
        ds.ContentSequence = Sequence([item])
        ds.save_as(f)
    return files


def test_no_phi_survives(tmp_path):
    files = _phi_series(tmp_path)
    original_uids = {str(pydicom.dcmread(f).SOPInstanceUID) for f in files} | {"1.2.3.4", "1.2.3.5"}
    image = load_series(discover(tmp_path / "s")[0], key=b"key-1")
    texts = [t for h in image.dicom_headers for t in _walk_strings(h)]
    texts += [str(v) for v in image.attributes.values()] + [image.source_name, str(image.patient_pseudonym)]
    blob = "\n".join(texts)
    for name, value in PHI.items():
        for part in value.replace("^", " ").split():
            if len(part) > 3 and part not in ("Road", "Street", "chest"):
                assert part not in blob, (name, part)
    assert "private" not in blob
    for uid in original_uids:
        assert uid not in blob
    h = image.dicom_headers[0]
    assert h.PatientIdentityRemoved == "YES" and h.PatientID == image.patient_pseudonym
    assert image.patient_pseudonym.startswith("P-") and len(image.patient_pseudonym) == 18
    assert image.attributes["age"] == 62 and image.attributes["sex"] == "F"
    assert image.attributes["site"].startswith("site-")


def test_age_from_birth_date_when_no_patient_age(tmp_path):
    files, _ = write_series(
        tmp_path / "s", n=2, per_slice={k: {"PatientBirthDate": "19600415", "StudyDate": "20230102"} for k in range(2)}
    )
    image = load_series(discover(tmp_path / "s")[0], key=b"k")
    assert image.attributes["age"] == 62
    assert all(h.PatientBirthDate == "" for h in image.dicom_headers)


def test_same_key_same_output_other_key_different():
    ds = Dataset()
    ds.PatientID = "MRN-1"
    ds.SeriesInstanceUID = "1.2.840.99.1"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    a = deidentify(ds, key=b"a", uid_map=UidMap(b"a"))
    a2 = deidentify(ds, key=b"a", uid_map=UidMap(b"a"))
    b = deidentify(ds, key=b"b", uid_map=UidMap(b"b"))
    assert a.PatientID == a2.PatientID != b.PatientID
    assert a.SeriesInstanceUID == a2.SeriesInstanceUID != b.SeriesInstanceUID
    assert a.SOPClassUID == ds.SOPClassUID  # registered class UIDs are kept
    assert len(a.SeriesInstanceUID) <= 64 and pydicom.uid.UID(a.SeriesInstanceUID).is_valid
    assert ds.PatientID == "MRN-1"  # input untouched
    assert pseudonym("x", key=b"a", prefix="P-") == pseudonym("x", key=b"a", prefix="P-")
    assert pseudonym("x", key=b"a", prefix="P-") != pseudonym("x", key=b"b", prefix="P-")
    assert np.all([len(pseudonym(str(i), key=b"a", prefix="P-")) == 18 for i in range(3)])
