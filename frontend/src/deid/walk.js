// One walk over the data set applies Table E.1-1 (PS3.15 E.1.1) to every element,
// recursing into sequence items (uploads/dicom/deid/walk.py). Inside a D (dummy) sequence
// free text the table does not list is replaced; inside a C (clean) sequence all text is
// cleaned. Patient's Name and Patient ID become the pseudonym wherever they stand.
import ENGINE from "../generated/engine-constants.js";
import { applyToValue, scrubElement } from "./actions.js";
import {
  CLEAN, CLEANED, DUMMY, EMPTIED, EMPTY, KEEP, PATIENT_ID, PATIENT_NAME, REMOVE, REMOVED,
  REPLACED,
} from "./common.js";
import { isSequence, setValues, strings } from "./elements.js";
import { privateElements } from "./private.js";
import { describeValue } from "./run.js";

export const NORMAL = 0; // walk modes: outside any D or C sequence,
const CLEAN_TEXT = 1; // inside a C sequence (clean all text),
const DUMMY_TEXT = 2; // inside a D sequence (replace free text)
const FREE_TEXT_VRS = new Set(ENGINE.text.free_text_vrs);
const CLEANABLE_VRS = new Set(ENGINE.text.cleanable_vrs);

export function walk(dict, run, mode) {
  const privateTags = [];
  for (const tag of Object.keys(dict)) {
    const group = parseInt(tag.slice(0, 4), 16);
    if (group & 1) {
      privateTags.push(tag);
      continue;
    }
    if (group <= 0x0002 || tag.endsWith("0000")) { // command/meta groups, group lengths
      run.count(tag, REMOVED, dict[tag]);
      delete dict[tag];
      continue;
    }
    const el = dict[tag];
    if (tag === PATIENT_NAME || tag === PATIENT_ID) {
      run.count(tag, REPLACED, el);
      setValues(el, [run.pseudonym]);
      continue;
    }
    let action = run.compiled.exact.get(tag);
    if (action === undefined && ENGINE.removed_groups.groups.includes(group & ENGINE.removed_groups.mask)) {
      action = REMOVE; // curve data and overlay planes: the whole group goes
    }
    if (action === undefined || action === KEEP) {
      if (isSequence(el)) for (const item of el.Value || []) walk(item, run, mode);
      else if (mode && action === undefined) textInSequence(tag, el, run, mode);
      continue;
    }
    if (action === REMOVE) {
      run.count(tag, REMOVED, el);
      delete dict[tag];
      continue;
    }
    if (isSequence(el)) applyToSequence(tag, el, action, run, mode);
    else applyToValue(tag, el, action, run);
  }
  if (privateTags.length) privateElements(dict, privateTags, run);
}

function applyToSequence(tag, el, action, run, mode) {
  if (action === EMPTY) {
    run.count(tag, EMPTIED, el);
    setValues(el, []);
    return;
  }
  let inner = mode;
  if (action === DUMMY) {
    inner = DUMMY_TEXT;
    run.count(tag, REPLACED, el);
  } else if (action === CLEAN) {
    inner = Math.max(mode, CLEAN_TEXT);
    run.count(tag, CLEANED, el);
  }
  for (const item of el.Value || []) walk(item, run, inner);
}

// Free text not listed in Table E.1-1 inside a D (dummy) or C (clean) sequence.
function textInSequence(tag, el, run, mode) {
  if (mode === DUMMY_TEXT && FREE_TEXT_VRS.has(el.vr)) {
    if (strings(el).join("")) {
      run.count(tag, REPLACED, el);
      setValues(el, [ENGINE.dummies.text_value]);
    }
  } else if (CLEANABLE_VRS.has(el.vr)) {
    const before = describeValue(el);
    if (scrubElement(el, run)) run.count(tag, CLEANED, { vr: el.vr, Value: [before] });
  }
}
