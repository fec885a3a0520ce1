// Whose data set this is (uploads/dicom/deid/identity.py) and the patient's own names and
// identifiers cut out of descriptors (uploads/dicom/deid/names.py identifier_tokens and
// scrub_pattern; the names of every person are ../names.js).
import ENGINE from "../generated/engine-constants.js";
import {
  OTHER_IDS_SEQUENCE, PATIENT_BIRTH_DATE, PATIENT_ID, PATIENT_NAME, SOP_INSTANCE_UID, STUDY_UID,
} from "./common.js";
import { strings, strip, text } from "./elements.js";

const NAME_SPLIT_RE = new RegExp(ENGINE.text.name_split, "u");

// The original identity the pseudonym and date shift are keyed from (patient_identity).
export function patientIdentity(dict) {
  const patientId = text(dict, PATIENT_ID);
  if (patientId) return `id:${patientId}`;
  const name = text(dict, PATIENT_NAME);
  const birth = text(dict, PATIENT_BIRTH_DATE);
  if (name || birth) return `name:${name}|${birth}`;
  const study = text(dict, STUDY_UID);
  return study ? `study:${study}` : `sop:${text(dict, SOP_INSTANCE_UID)}`;
}

// Names and identifiers of the patient, cut out of descriptors (Clean Descriptors, E.3.1).
export function scrubPattern(dict) {
  const tokens = new Set();
  const names = ENGINE.text.name_tags.flatMap((tag) => strings(dict[tag]));
  const ids = ENGINE.text.id_tags.flatMap((tag) => strings(dict[tag]));
  for (const item of dict[OTHER_IDS_SEQUENCE]?.Value || []) ids.push(...strings(item[PATIENT_ID]));
  for (const name of names) {
    const whole = name.trim();
    tokens.add(whole);
    for (const part of whole.split(NAME_SPLIT_RE)) tokens.add(part);
  }
  for (const id of ids) tokens.add(strip(id));
  const usable = [...tokens].filter((t) => [...t].length >= ENGINE.text.min_token);
  if (!usable.length) return null;
  usable.sort((a, b) => [...b].length - [...a].length);
  const escaped = usable.map((t) => t.replace(/[\^$\\.*+?()[\]{}|/]/g, "\\$&"));
  return new RegExp(escaped.join("|"), "giu");
}
