// One element's Table E.1-1 action (uploads/dicom/deid/actions.py): Z, D (a dummy of the
// same VR; UI values are remapped instead), U, C and the date shift. X and K need no more
// than the walk (walk.js), which also handles sequences.
import ENGINE from "../generated/engine-constants.js";
import {
  CLEAN, CLEANED, DUMMY, EMPTIED, EMPTY, REPLACED, SHIFT, UID, UID_REMAPPED, UID_SEQUENCE,
} from "./common.js";
import { shiftElement } from "./dates.js";
import { setValues, strings } from "./elements.js";

const CLEANABLE_VRS = new Set(ENGINE.text.cleanable_vrs);
const DUMMIES = ENGINE.dummies;

function dummyValues(vr) {
  if (vr in DUMMIES.text) return [DUMMIES.text[vr]];
  if (vr in DUMMIES.number) return [DUMMIES.number[vr]];
  if (vr in DUMMIES.zero_bytes) return [new ArrayBuffer(DUMMIES.zero_bytes[vr])];
  return [DUMMIES.text_value];
}

export function applyToValue(tag, el, action, run) {
  const vr = el.vr;
  if (action === EMPTY) {
    run.count(tag, EMPTIED, el);
    setValues(el, []);
  } else if (action === UID || action === UID_SEQUENCE || (action === DUMMY && vr === "UI")) {
    if (vr === "UI") {
      run.count(tag, UID_REMAPPED, el);
      run.pendingUids.push([el, strings(el)]);
    } else {
      run.count(tag, EMPTIED, el);
      setValues(el, []);
    }
  } else if (action === DUMMY) {
    run.count(tag, REPLACED, el);
    setValues(el, dummyValues(vr));
  } else if (action === SHIFT) {
    shiftElement(tag, el, run);
  } else if (action === CLEAN) {
    if (CLEANABLE_VRS.has(vr)) {
      const entry = run.count(tag, CLEANED, el, 0);
      if (scrubElement(el, run)) entry.changed += 1;
    } else { // binary (e.g. Maker Note): nothing here can be cleaned, so it goes
      run.count(tag, EMPTIED, el);
      setValues(el, []);
    }
  }
}

export function scrubElement(el, run) {
  const values = strings(el);
  const cleaned = values.map((v) => run.scrub(v));
  if (cleaned.every((v, i) => v === values[i])) return false;
  setValues(el, cleaned);
  return true;
}
