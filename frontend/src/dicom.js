// Reading DICOM in the browser with dcmjs: a patient-free summary of one file.
import dcmjs from "dcmjs";

const { DicomMessage } = dcmjs.data;

// Tag helpers on the raw tag-keyed dict (the "naturalized" path alters data:
// see shared/notes/dcmjs.md).
export function value(dict, tag) {
  const element = dict[tag];
  if (!element || !element.Value || element.Value.length === 0) return "";
  return element.Value[0];
}

export function isDicom(buffer) {
  const bytes = new Uint8Array(buffer, 0, Math.min(buffer.byteLength, 132));
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 &&
    bytes[130] === 0x43 && bytes[131] === 0x4d;
}

// Study/series grouping keys and display fields; never names, IDs or birth dates.
export function summarize(buffer) {
  const file = DicomMessage.readFile(buffer, { ignoreErrors: true, untilTag: "7FE00010" });
  const d = file.dict;
  return {
    studyUid: value(d, "0020000D"),
    seriesUid: value(d, "0020000E"),
    sopUid: value(d, "00080018"),
    studyDate: value(d, "00080020"),
    modality: value(d, "00080060"),
    studyDescription: value(d, "00081030"),
    seriesDescription: value(d, "0008103E"),
  };
}
