// Generated from uploads/dicom/constants.py (engine_constants()): do not edit.
// frontend/build.mjs writes it before bundling, with
//   python -m uploads.dicom.constants --write frontend/src/generated/engine-constants.js
// tests/frontend/test_engine_constants.py fails while it differs from the Python.
const ENGINE = {
  "option_info": {
    "retain_patient_characteristics": {
      "column": "retain_patient_characteristics",
      "code": "113108",
      "meaning": "Retain Patient Characteristics Option"
    },
    "retain_longitudinal_modified_dates": {
      "column": "retain_long_modified_dates",
      "code": "113107",
      "meaning": "Retain Longitudinal Temporal Information Modified Dates Option"
    },
    "retain_device_identity": {
      "column": "retain_device_identity",
      "code": "113109",
      "meaning": "Retain Device Identity Option"
    },
    "retain_institution_identity": {
      "column": "retain_institution_identity",
      "code": "113112",
      "meaning": "Retain Institution Identity Option"
    },
    "clean_descriptors": {
      "column": "clean_descriptors",
      "code": "113105",
      "meaning": "Clean Descriptors Option"
    },
    "retain_safe_private": {
      "column": "retain_safe_private",
      "code": "113111",
      "meaning": "Retain Safe Private Option"
    }
  },
  "option_order": [
    "retain_patient_characteristics",
    "retain_longitudinal_modified_dates",
    "retain_device_identity",
    "retain_institution_identity",
    "clean_descriptors",
    "retain_safe_private"
  ],
  "basic_profile_code": {
    "code": "113100",
    "meaning": "Basic Application Confidentiality Profile"
  },
  "clean_pixel_code": {
    "code": "113101",
    "meaning": "Clean Pixel Data Option"
  },
  "method": {
    "template": "PS3.15 {edition} Basic Application Confidentiality Profile",
    "max_length": 64,
    "coding_scheme": "DCM"
  },
  "implementation_class_uid": "2.25.171586514918853302742840780393709381850",
  "implementation_version_name": "DICOMPORTAL_JS",
  "actions": {
    "remove": "X",
    "empty": "Z",
    "dummy": "D",
    "keep": "K",
    "clean": "C",
    "shift": "S",
    "uid": "U",
    "uid_sequence": "U*"
  },
  "resolution": {
    "conditional": {
      "X/Z": "Z",
      "X/D": "D",
      "Z/D": "D",
      "X/Z/D": "D",
      "X/Z/U*": "U*"
    },
    "option_code_meanings": {
      "retain_long_modified_dates": {
        "C": "S"
      }
    },
    "protective_order": [
      "X",
      "S",
      "C",
      "K"
    ]
  },
  "report_actions": {
    "removed": "removed",
    "emptied": "emptied",
    "replaced": "replaced",
    "uid_remapped": "uid-remapped",
    "date_shifted": "date-shifted",
    "cleaned": "cleaned",
    "kept_safe_private": "kept-safe-private",
    "added": "added"
  },
  "dummies": {
    "text_value": "ANONYMIZED",
    "text": {
      "DA": "19000101",
      "DT": "19000101000000",
      "TM": "000000",
      "AS": "000D",
      "DS": "0",
      "IS": "0",
      "UR": "http://example.invalid/"
    },
    "number": {
      "US": 0,
      "SS": 0,
      "UL": 0,
      "SL": 0,
      "UV": 0,
      "SV": 0,
      "FL": 0.0,
      "FD": 0.0,
      "AT": 0
    },
    "zero_bytes": {
      "OB": 2,
      "OW": 2,
      "UN": 2,
      "OF": 4,
      "OL": 4,
      "OD": 8,
      "OV": 8
    }
  },
  "text": {
    "free_text_vrs": [
      "LT",
      "PN",
      "ST",
      "UC",
      "UT"
    ],
    "cleanable_vrs": [
      "AE",
      "CS",
      "LO",
      "LT",
      "PN",
      "SH",
      "ST",
      "UC",
      "UT"
    ],
    "min_token": 3,
    "name_split": "[\\^=,\\s]+",
    "name_part_components": 3,
    "name_word_split": "[\\s,.\\-]+",
    "min_name_part": 2,
    "name_tags": [
      "00100010",
      "00101001",
      "00101005",
      "00101060"
    ],
    "id_tags": [
      "00100020",
      "00101000",
      "00080050",
      "00101090",
      "00100030"
    ]
  },
  "dates": {
    "max_shift_days": 3650,
    "da": "^(\\d{4})(\\d{2})(\\d{2})$",
    "dt": "^(\\d{4})(\\d{2})(\\d{2})(\\d{2}(?:\\d{2}(?:\\d{2}(?:\\.\\d{1,6})?)?)?)?([+-]\\d{4})?$",
    "timezone": "^[+-]\\d{4}$"
  },
  "safe_private": {
    "text": "^[0-9eE+\\-.:/ \\\\]*$",
    "text_vrs": [
      "DS",
      "IS",
      "SH"
    ],
    "binary_sizes": {
      "US": 2,
      "SS": 2,
      "UL": 4,
      "SL": 4,
      "FL": 4,
      "FD": 8
    }
  },
  "vrs": [
    "AE",
    "AS",
    "AT",
    "CS",
    "DA",
    "DS",
    "DT",
    "FD",
    "FL",
    "IS",
    "LO",
    "LT",
    "OB",
    "OD",
    "OF",
    "OL",
    "OV",
    "OW",
    "PN",
    "SH",
    "SL",
    "SQ",
    "SS",
    "ST",
    "SV",
    "TM",
    "UC",
    "UI",
    "UL",
    "UN",
    "UR",
    "US",
    "UT",
    "UV"
  ],
  "tags": {
    "PatientName": "00100010",
    "PatientID": "00100020",
    "PatientBirthDate": "00100030",
    "OtherPatientIDsSequence": "00101002",
    "TimezoneOffsetFromUTC": "00080201",
    "SOPClassUID": "00080016",
    "SOPInstanceUID": "00080018",
    "StudyInstanceUID": "0020000D",
    "SeriesInstanceUID": "0020000E",
    "Modality": "00080060",
    "BurnedInAnnotation": "00280301",
    "RecognizableVisualFeatures": "00280302",
    "PatientIdentityRemoved": "00120062",
    "DeidentificationMethod": "00120063",
    "DeidentificationMethodCodeSequence": "00120064",
    "LongitudinalTemporalInformationModified": "00280303",
    "DirectoryRecordSequence": "00041220"
  },
  "removed_groups": {
    "mask": 65280,
    "groups": [
      20480,
      24576
    ]
  },
  "dicomdir_sop_class": "1.2.840.10008.1.3.10",
  "deflated_syntax": "1.2.840.10008.1.2.1.99",
  "uids": {
    "default_root": "2.25",
    "max_length": 64,
    "check_digits": 10,
    "min_body_digits": 30
  },
  "hmac_labels": {
    "uid": "uid",
    "uid_issued": "uid-issued",
    "patient": "patient",
    "date_shift": "dateshift"
  },
  "pseudonym": {
    "prefix": "PSN-",
    "length": 10
  },
  "pixel_review": {
    "rules": [
      {
        "tag": "00280301",
        "values": [
          "YES"
        ],
        "reason": "Burned In Annotation is YES: text is drawn into the pixels",
        "unless_tag": null,
        "unless_values": []
      },
      {
        "tag": "00280302",
        "values": [
          "YES"
        ],
        "reason": "Recognizable Visual Features is YES: the image may show a face",
        "unless_tag": null,
        "unless_values": []
      },
      {
        "tag": "00080016",
        "values": [
          "1.2.840.10008.5.1.4.1.1.104.1",
          "1.2.840.10008.5.1.4.1.1.104.2",
          "1.2.840.10008.5.1.4.1.1.7",
          "1.2.840.10008.5.1.4.1.1.7.1",
          "1.2.840.10008.5.1.4.1.1.7.2",
          "1.2.840.10008.5.1.4.1.1.7.3",
          "1.2.840.10008.5.1.4.1.1.7.4"
        ],
        "reason": "secondary capture or document: captured content may show patient text",
        "unless_tag": null,
        "unless_values": []
      },
      {
        "tag": "00080060",
        "values": [
          "CR",
          "DX",
          "ES",
          "GM",
          "IO",
          "IVUS",
          "MG",
          "OP",
          "OT",
          "PX",
          "RF",
          "SC",
          "US",
          "XA",
          "XC"
        ],
        "reason": "modality {value} often has burned-in text and Burned In Annotation is not NO",
        "unless_tag": "00280301",
        "unless_values": [
          "NO"
        ]
      }
    ],
    "overlay_group": {
      "mask": 65281,
      "value": 24576
    },
    "overlay_data_element": 12288,
    "overlay_reason": "overlay stored in unused bits of Pixel Data (not removed)"
  },
  "messages": {
    "dicomdir": "CD index (DICOMDIR): used only to find the images",
    "no_sop_uids": "not a usable DICOM object: it has no SOP Class or SOP Instance UID",
    "empty_key": "a non-empty de-identification key is required",
    "truncated_element": "not readable: the file is truncated (it ends inside an element)"
  },
  "identifying_words": {
    "names": {
      "PatientName": "00100010",
      "OtherPatientNames": "00101001",
      "PatientBirthName": "00101005",
      "PatientMotherBirthName": "00101060",
      "ReferringPhysicianName": "00080090",
      "PerformingPhysicianName": "00081050",
      "OperatorsName": "00081070",
      "NameOfPhysiciansReadingStudy": "00081060"
    },
    "text": {
      "PatientID": "00100020",
      "OtherPatientIDs": "00101000",
      "AccessionNumber": "00080050",
      "InstitutionName": "00080080"
    },
    "dates": {
      "PatientBirthDate": "00100030",
      "StudyDate": "00080020",
      "SeriesDate": "00080021",
      "AcquisitionDate": "00080022",
      "ContentDate": "00080023"
    }
  },
  "word_matching": {
    "fold": {
      "O": "0",
      "Q": "0",
      "D": "0",
      "I": "1",
      "L": "1",
      "|": "1",
      "!": "1",
      "S": "5",
      "B": "8",
      "Z": "2",
      "G": "6"
    },
    "min_length": 2,
    "fuzzy_value": 5,
    "fuzzy_seen": 4,
    "prefix_value": 6,
    "prefix_seen": 4,
    "joined_part": 3,
    "text_word": 3,
    "split": "[^\\w/.\\-]+",
    "edges": "^[^\\w]+|[^\\w]+$",
    "months": [
      "JAN",
      "FEB",
      "MAR",
      "APR",
      "MAY",
      "JUN",
      "JUL",
      "AUG",
      "SEP",
      "OCT",
      "NOV",
      "DEC"
    ],
    "month_names": [
      "JANUARY",
      "FEBRUARY",
      "MARCH",
      "APRIL",
      "MAY",
      "JUNE",
      "JULY",
      "AUGUST",
      "SEPTEMBER",
      "OCTOBER",
      "NOVEMBER",
      "DECEMBER"
    ]
  },
  "zip_limits": {
    "max_entries": 50000,
    "max_entry_size": 2147483648,
    "max_total": 17179869184,
    "browser_max_total": 4294967296,
    "max_ratio": 200,
    "ratio_min_size": 1048576,
    "max_depth": 2
  }
};

function freeze(value) {
  if (value && typeof value === "object") {
    Object.values(value).forEach(freeze);
    Object.freeze(value);
  }
  return value;
}

export default freeze(ENGINE);
