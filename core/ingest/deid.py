"""De-identification of DICOM headers and case attributes.

Follows DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile: the action table
below is taken from PS3.15 Table E.1-1 for the attributes commonly found in CT/MR images, plus
the profile's general rules (remove private tags, curves and overlays; replace instance UIDs).
Beyond the table, to be safe with attributes the table lists but we do not: any other person
name, date, time or datetime is removed, and any other non-registered UID is replaced.

Pseudonyms and UIDs are keyed hashes (HMAC-SHA256), so the same source gives the same output
under one project key, and nothing can be traced back without the key.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import date

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID

__all__ = [
    "ACTIONS",
    "DEIDENTIFICATION_METHOD",
    "UidMap",
    "case_attributes",
    "deidentify",
    "pseudonym",
]

DEIDENTIFICATION_METHOD = "PS3.15 E.1-1 Basic Profile (Concord)"  # LO: at most 64 chars

# Actions of PS3.15 Table E.1-1 (Basic Profile column). Where the table allows several
# (e.g. X/Z/D) the strongest one that keeps the dataset valid is used.
#   D: replace with a non-identifying value (here: the keyed pseudonym)
#   Z: replace with a zero-length value        X: remove
#   K: keep                                    C: clean (here: treated as X)
#   U: replace the UID with a keyed, deterministic one
ACTIONS: dict[int, str] = {
    0x00080014: "U",  # Instance Creator UID
    0x00080018: "U",  # SOP Instance UID
    0x00080020: "Z",  # Study Date
    0x00080021: "X",  # Series Date
    0x00080022: "X",  # Acquisition Date
    0x00080023: "Z",  # Content Date
    0x00080024: "X",  # Overlay Date
    0x00080025: "X",  # Curve Date
    0x0008002A: "X",  # Acquisition DateTime
    0x00080030: "Z",  # Study Time
    0x00080031: "X",  # Series Time
    0x00080032: "X",  # Acquisition Time
    0x00080033: "Z",  # Content Time
    0x00080050: "Z",  # Accession Number
    0x00080080: "X",  # Institution Name
    0x00080081: "X",  # Institution Address
    0x00080082: "X",  # Institution Code Sequence
    0x00080090: "Z",  # Referring Physician's Name
    0x00080092: "X",  # Referring Physician's Address
    0x00080094: "X",  # Referring Physician's Telephone Numbers
    0x00080096: "X",  # Referring Physician Identification Sequence
    0x00080201: "X",  # Timezone Offset From UTC
    0x00081010: "X",  # Station Name
    0x00081030: "X",  # Study Description
    0x00081032: "X",  # Procedure Code Sequence
    0x0008103E: "X",  # Series Description
    0x00081040: "X",  # Institutional Department Name
    0x00081048: "X",  # Physician(s) of Record
    0x00081049: "X",  # Physician(s) of Record Identification Sequence
    0x00081050: "X",  # Performing Physician's Name
    0x00081052: "X",  # Performing Physician Identification Sequence
    0x00081060: "X",  # Name of Physician(s) Reading Study
    0x00081062: "X",  # Physician(s) Reading Study Identification Sequence
    0x00081070: "X",  # Operators' Name
    0x00081072: "X",  # Operator Identification Sequence
    0x00081080: "X",  # Admitting Diagnoses Description
    0x00081084: "X",  # Admitting Diagnoses Code Sequence
    0x00081110: "X",  # Referenced Study Sequence
    0x00081111: "X",  # Referenced Performed Procedure Step Sequence
    0x00081120: "X",  # Referenced Patient Sequence
    0x00081140: "X",  # Referenced Image Sequence (X/Z/U*)
    0x00081155: "U",  # Referenced SOP Instance UID
    0x00082111: "X",  # Derivation Description
    0x00082112: "X",  # Source Image Sequence (X/Z/U*)
    0x00083010: "U",  # Irradiation Event UID
    0x00084000: "X",  # Identifying Comments
    0x00100010: "D",  # Patient's Name -> pseudonym
    0x00100020: "D",  # Patient ID -> pseudonym
    0x00100021: "X",  # Issuer of Patient ID
    0x00100030: "Z",  # Patient's Birth Date
    0x00100032: "X",  # Patient's Birth Time
    0x00100040: "Z",  # Patient's Sex
    0x00100050: "X",  # Patient's Insurance Plan Code Sequence
    0x00100101: "X",  # Patient's Primary Language Code Sequence
    0x00101000: "X",  # Other Patient IDs
    0x00101001: "X",  # Other Patient Names
    0x00101002: "X",  # Other Patient IDs Sequence
    0x00101005: "X",  # Patient's Birth Name
    0x00101010: "X",  # Patient's Age
    0x00101020: "X",  # Patient's Size
    0x00101030: "X",  # Patient's Weight
    0x00101040: "X",  # Patient's Address
    0x00101060: "X",  # Patient's Mother's Birth Name
    0x00101090: "X",  # Medical Record Locator
    0x00102000: "X",  # Medical Alerts
    0x00102110: "X",  # Allergies
    0x00102150: "X",  # Country of Residence
    0x00102152: "X",  # Region of Residence
    0x00102154: "X",  # Patient's Telephone Numbers
    0x00102160: "X",  # Ethnic Group
    0x00102180: "X",  # Occupation
    0x001021A0: "X",  # Smoking Status
    0x001021B0: "X",  # Additional Patient History
    0x001021C0: "X",  # Pregnancy Status
    0x001021D0: "X",  # Last Menstrual Date
    0x00104000: "X",  # Patient Comments
    0x00181000: "X",  # Device Serial Number
    0x00181002: "U",  # Device UID
    0x00181004: "X",  # Plate ID
    0x00181005: "X",  # Generator ID
    0x00181007: "X",  # Cassette ID
    0x00181008: "X",  # Gantry ID
    0x00181030: "X",  # Protocol Name
    0x00181200: "X",  # Date of Last Calibration
    0x00181201: "X",  # Time of Last Calibration
    0x0018700A: "X",  # Detector ID
    0x00200010: "Z",  # Study ID
    0x0020000D: "U",  # Study Instance UID
    0x0020000E: "U",  # Series Instance UID
    0x00200052: "U",  # Frame of Reference UID
    0x00200200: "U",  # Synchronization Frame of Reference UID
    0x00204000: "X",  # Image Comments
    0x00209161: "U",  # Concatenation UID
    0x00209164: "U",  # Dimension Organization UID
    0x00321032: "X",  # Requesting Physician
    0x00321033: "X",  # Requesting Service
    0x00321060: "X",  # Requested Procedure Description
    0x00380010: "X",  # Admission ID
    0x00380300: "X",  # Current Patient Location
    0x00380400: "X",  # Patient's Institution Residence
    0x00400244: "X",  # Performed Procedure Step Start Date
    0x00400245: "X",  # Performed Procedure Step Start Time
    0x00400253: "X",  # Performed Procedure Step ID
    0x00400254: "X",  # Performed Procedure Step Description
    0x00400275: "X",  # Request Attributes Sequence
    0x00400555: "X",  # Acquisition Context Sequence
    0x00401001: "X",  # Requested Procedure ID
    0x00402016: "X",  # Placer Order Number / Imaging Service Request
    0x00402017: "X",  # Filler Order Number / Imaging Service Request
    0x0040A124: "U",  # UID
    0x0040A730: "X",  # Content Sequence
    0x00880140: "U",  # Storage Media File-set UID
    0x04000561: "X",  # Original Attributes Sequence
    0x30060024: "U",  # Referenced Frame of Reference UID
    0x40000010: "X",  # Arbitrary
    0x40004000: "X",  # Text Comments
    # File meta information
    0x00020012: "K",  # Implementation Class UID (identifies software, not a patient)
    0x00020003: "U",  # Media Storage SOP Instance UID
    0x00020016: "X",  # Source Application Entity Title
    0x00020017: "X",  # Sending Application Entity Title
    0x00020018: "X",  # Receiving Application Entity Title
}

_DROP_VRS = frozenset({"PN", "DA", "DT", "TM"})


def _mac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def pseudonym(value: str, *, key: bytes, prefix: str) -> str:
    """Keyed, stable pseudonym ``prefix + 16 hex chars`` of HMAC-SHA256(key, value).

    Same key and value give the same pseudonym (re-ingest finds the same patient); without the
    key it cannot be reversed or recomputed from a guessed ID.
    """
    return prefix + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


@dataclass
class UidMap:
    """Deterministic keyed UID replacement, remembering what it mapped.

    ``uid_map(uid)`` returns ``"2.25." + int(HMAC-SHA256(key, uid)[:16 bytes])``: the same
    source UID always maps to the same new UID under one key, so references between series
    (and between later exports and the source) stay consistent.
    """

    key: bytes
    mapping: dict[str, str] = field(default_factory=dict)

    def __call__(self, uid: str) -> str:
        uid = str(uid).strip()
        if not uid:
            return ""
        new = self.mapping.get(uid)
        if new is None:
            new = "2.25." + str(int.from_bytes(_mac(self.key, "uid:" + uid)[:16], "big"))
            self.mapping[uid] = new
        return new


def _is_registered(uid: str) -> bool:
    """True for UIDs defined by the standard (SOP classes, transfer syntaxes, coding schemes)."""
    try:
        u = UID(uid)
        return u.name != str(u)
    except Exception:
        return False


def _replace_uid(value: object, uid_map: UidMap) -> object:
    if isinstance(value, MultiValue | list):
        return [_replace_uid(v, uid_map) for v in value]
    s = str(value or "")
    if not s or _is_registered(s):
        return s
    return uid_map(s)


def _clean(ds: Dataset, *, key: bytes, uid_map: UidMap, patient_pseudonym: str) -> None:
    for elem in list(ds):
        tag = elem.tag
        group = tag.group
        if tag.is_private or 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
            del ds[tag]  # private tags, curves and overlays
            continue
        action = ACTIONS.get(int(tag))
        if action is None:
            if elem.VR == "SQ":
                for item in elem.value:
                    _clean(item, key=key, uid_map=uid_map, patient_pseudonym=patient_pseudonym)
                continue
            if elem.VR in _DROP_VRS:
                action = "X"
            elif elem.VR == "UI":
                action = "U"
            else:
                continue
        if action == "K":
            continue
        if action in ("X", "C"):
            del ds[tag]
        elif action == "Z":
            elem.value = Sequence() if elem.VR == "SQ" else ""
        elif action == "D":
            elem.value = patient_pseudonym
        elif action == "U":
            elem.value = _replace_uid(elem.value, uid_map)


def deidentify(ds: Dataset, *, key: bytes, uid_map: UidMap, in_place: bool = False) -> Dataset:
    """Return a de-identified copy of ``ds`` (the input is not modified unless ``in_place``,
    which spares a deep copy when the caller discards the original anyway).

    Applies :data:`ACTIONS` at every nesting level, removes private tags, curves and overlays,
    names/dates/times not in the table, replaces non-registered UIDs via ``uid_map``; sets
    PatientName and PatientID to the patient pseudonym (empty when there is no PatientID),
    PatientIdentityRemoved = YES and DeidentificationMethod. PixelData, if present, is kept.
    """
    pid = str(ds.get("PatientID", "") or "").strip()
    out = ds if in_place else copy.deepcopy(ds)
    pseudo = pseudonym(pid, key=key, prefix="P-") if pid else ""
    _clean(out, key=key, uid_map=uid_map, patient_pseudonym=pseudo)
    meta = getattr(out, "file_meta", None)
    if isinstance(meta, FileMetaDataset | Dataset):
        _clean(meta, key=key, uid_map=uid_map, patient_pseudonym=pseudo)
        if "SOPInstanceUID" in out and "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    out.PatientName = pseudo
    out.PatientID = pseudo
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = DEIDENTIFICATION_METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    out.DeidentificationMethodCodeSequence = Sequence([code])
    return out


def _text(ds: Dataset, keyword: str) -> str | None:
    v = ds.get(keyword)
    if v is None or v == "":
        return None
    if isinstance(v, MultiValue | list):
        v = "\\".join(str(x) for x in v)
    s = str(v).strip()
    return s or None


def _number(ds: Dataset, keyword: str) -> float | None:
    v = ds.get(keyword)
    try:
        return float(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _parse_da(v: object) -> date | None:
    s = str(v or "").strip()
    if len(s) < 8:
        return None
    try:
        return date(int(s[:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        return None


def _age_years(ds: Dataset) -> int | None:
    age = str(ds.get("PatientAge", "") or "").strip().upper()
    if len(age) == 4 and age[:3].isdigit() and age[3] in "DWMY":
        n = int(age[:3])
        return {"Y": n, "M": n // 12, "W": n // 52, "D": n // 365}[age[3]]
    birth = _parse_da(ds.get("PatientBirthDate"))
    study = _parse_da(ds.get("StudyDate")) or _parse_da(ds.get("SeriesDate")) or _parse_da(
        ds.get("AcquisitionDate")
    )
    if birth is None or study is None or study < birth:
        return None
    return study.year - birth.year - ((study.month, study.day) < (birth.month, birth.day))


def case_attributes(ds: Dataset, *, key: bytes) -> dict:
    """De-identified case attributes of one (original) header, for filtering and bias audits.

    Returns:
        ``sex`` ("M"/"F"/"O" or None), ``age`` (years, from PatientAge or birth vs study date;
        the dates themselves are not returned), ``manufacturer``, ``model``, ``site``
        (keyed pseudonym of InstitutionName, "site-<12 hex>"), ``contrast`` (bool:
        ContrastBolusAgent present), ``slice_thickness`` (mm, the tag), ``kvp``,
        ``convolution_kernel``, ``body_part``. Missing values are None.
    """
    sex = _text(ds, "PatientSex")
    institution = _text(ds, "InstitutionName")
    return {
        "sex": sex.upper()[:1] if sex and sex.upper()[:1] in "MFO" else None,
        "age": _age_years(ds),
        "manufacturer": _text(ds, "Manufacturer"),
        "model": _text(ds, "ManufacturerModelName"),
        "site": pseudonym(institution.upper(), key=key, prefix="site-")[:17] if institution else None,
        "contrast": _text(ds, "ContrastBolusAgent") is not None,
        "slice_thickness": _number(ds, "SliceThickness"),
        "kvp": _number(ds, "KVP"),
        "convolution_kernel": _text(ds, "ConvolutionKernel"),
        "body_part": _text(ds, "BodyPartExamined"),
    }


