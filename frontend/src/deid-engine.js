// In-browser de-identification: PS3.15 Annex E Basic Application Level Confidentiality
// Profile with options, the same rules as the server engine (uploads/dicom/deidentify.py),
// applied to the raw tag-keyed dict that dcmjs reads (never the "naturalized" data set:
// it alters values; see docs/deidentification.md, "Browser engine").
//
// Pure module: no DOM. Runs in a Web Worker (deidworker.entry.js), in the page and in Node
// (frontend/tools/deid-node.mjs). Keyed pseudonyms use HMAC-SHA256 via crypto.subtle, with
// the same labels and encodings as uploads/dicom/uids.py, so that the Python engine given
// the same key and the root "2.25" produces the same UIDs, pseudonym and shifted dates.
// Output is deterministic: the same input and key always give the same bytes (the upload
// keys files by the SHA-256 of what is sent, so resuming needs it).
//
// This module is the engine's public face; the code is in deid/, one purpose a module,
// named after its twin in uploads/dicom/deid/:
//   common.js     ENGINE's action names, tags and transfer syntaxes; DeidError
//   profile.js    Table E.1-1 compiled for the enabled options (effectiveAction)
//   uids.js       keyed UIDs, pseudonym and date shift (HMAC-SHA256)
//   read.js       parse a file with dcmjs, Pixel Data kept as its bytes
//   identity.js   the identity the pseudonym is keyed from; the patient's own names and IDs
//   review.js     whether the pixels need a human look
//   run.js        the state and counts of one run
//   walk.js       the walk over the data set: Table E.1-1 per element, sequences
//   actions.js    one element's action (Z, D with per-VR dummies, U, C)
//   dates.js      the date shift (Retain Longitudinal Temporal Information, E.3.6)
//   private.js    private elements: the safe allow-list kept, the rest removed
//   markers.js    the attributes added to every output; the Clean Pixel Data marks
//   report.js     what was done, per tag and action
//   write.js      encode the result in the original transfer syntax
//   thumbnail.js  the small preview for the burned-in text warning
//   engine.js     createEngine and the de-identification of one file
// The names of every person (Clean Descriptors) are names.js; pixel masking pixelmask.js.
export {
  ADDED, CLEANED, DATE_SHIFTED, DeidError, EMPTIED, IMPLEMENTATION_VERSION_NAME,
  KEPT_SAFE_PRIVATE, REMOVED, REPLACED, UID_REMAPPED,
} from "./deid/common.js";
export { createEngine } from "./deid/engine.js";
export { patientIdentity } from "./deid/identity.js";
export { compileProfile, effectiveAction } from "./deid/profile.js";
export { parse } from "./deid/read.js";
export { pixelReview } from "./deid/review.js";
export { thumbnail } from "./deid/thumbnail.js";
export { dateShiftDays, patientPseudonym, remapUid } from "./deid/uids.js";
export { encode } from "./deid/write.js";
