// The attributes added to every output (PS3.15 E.1.1 item 6, PS3.3 C.7.1.1;
// uploads/dicom/deid/markers.py): the pseudonym in Patient's Name and Patient ID, Patient
// Identity Removed, De-identification Method (+ Code Sequence), Longitudinal Temporal
// Information Modified; and the Clean Pixel Data Option's marks.
import ENGINE from "../generated/engine-constants.js";
import { ADDED, PATIENT_ID, PATIENT_NAME } from "./common.js";
import { element } from "./elements.js";

function methodCodeSequence(compiled) {
  return compiled.codes.map((c) => ({
    "00080100": element("SH", [c.code]),
    "00080102": element("SH", [ENGINE.method.coding_scheme]),
    "00080104": element("LO", [c.meaning]),
  }));
}

export function addDeidentificationAttributes(dict, run, compiled) {
  const tags = ENGINE.tags;
  dict[PATIENT_NAME] = element("PN", [run.pseudonym]);
  dict[PATIENT_ID] = element("LO", [run.pseudonym]);
  const added = {
    [tags.PatientIdentityRemoved]: element("CS", ["YES"]),
    [tags.DeidentificationMethod]: element("LO", [...compiled.method]),
    [tags.DeidentificationMethodCodeSequence]: element("SQ", methodCodeSequence(compiled)),
    [tags.LongitudinalTemporalInformationModified]:
      element("CS", [run.shift !== null ? "MODIFIED" : "REMOVED"]),
  };
  for (const [tag, value] of Object.entries(added)) {
    dict[tag] = value;
    run.count(tag, ADDED);
  }
}

// After the pixels were cleaned (pixelmask.js): Burned In Annotation NO and the Clean
// Pixel Data Option's code (PS3.15 E.3.1, CID 7050).
export function markPixelsCleaned(dict) {
  const tags = ENGINE.tags;
  dict[tags.BurnedInAnnotation] = element("CS", ["NO"]);
  const code = ENGINE.clean_pixel_code;
  dict[tags.DeidentificationMethodCodeSequence].Value.push({
    "00080100": element("SH", [code.code]),
    "00080102": element("SH", [ENGINE.method.coding_scheme]),
    "00080104": element("LO", [code.meaning]),
  });
}
