// The profile, compiled for a set of options (uploads/dicom/profile.py and the options of
// uploads/dicom/deid/options.py): PS3.15 Table E.1-1 as served by /api/deid/profile/.
import ENGINE from "../generated/engine-constants.js";
import { CLEAN, DeidError, REMOVE } from "./common.js";

const { conditional: CONDITIONAL, option_code_meanings: OPTION_CODE_MEANINGS,
  protective_order: PROTECTIVE_ORDER } = ENGINE.resolution;

// The single action applied to a row under the enabled option columns. The rule is data
// (ENGINE.resolution): each enabled column's code, translated where that column gives it
// another meaning (C under Modified Dates is the date shift), the most protective first;
// with none, the Basic Profile code, its conditional codes resolved.
export function effectiveAction(row, columns) {
  const chosen = columns.filter((c) => c in row.options)
    .map((c) => OPTION_CODE_MEANINGS[c]?.[row.options[c]] ?? row.options[c]);
  if (!chosen.length) return CONDITIONAL[row.basic_profile] ?? row.basic_profile;
  return chosen.reduce((a, b) => (PROTECTIVE_ORDER.indexOf(b) < PROTECTIVE_ORDER.indexOf(a) ? b : a));
}

/**
 * Compile the profile JSON served by /api/deid/profile/ for the enabled option names.
 * @param {object} profile the response of /api/deid/profile/
 * @param {string[]} [optionNames] enabled option names (default: profile.options)
 */
export function compileProfile(profile, optionNames = profile.options) {
  const info = ENGINE.option_info;
  const order = ENGINE.option_order;
  const enabled = order.filter((name) => optionNames.includes(name));
  for (const name of optionNames) {
    if (!info[name]) throw new DeidError(`unknown de-identification option ${name}`);
  }
  const columns = enabled.map((name) => info[name].column);
  const exact = new Map();
  const rows = new Map();
  let privateAction = REMOVE;
  for (const row of profile.rows) {
    const action = effectiveAction(row, columns);
    if (row.tag === "GGGG,EEEE") privateAction = action === CLEAN ? CLEAN : REMOVE;
    else if (!row.tag.includes("X")) {
      const key = row.tag.replace(",", "");
      exact.set(key, action);
      rows.set(key, row);
    }
  }
  const safePrivate = new Map();
  for (const r of profile.safe_private.rows) {
    safePrivate.set(`${r.group.toUpperCase()}|${r.creator}|${r.element.toUpperCase()}`, r);
  }
  const method = [ENGINE.method.template.replace("{edition}", profile.edition),
    ...enabled.map((name) => info[name].meaning)].map((v) => v.slice(0, ENGINE.method.max_length));
  const codes = [ENGINE.basic_profile_code, ...enabled.map((name) => info[name])];
  return {
    edition: profile.edition, options: enabled, exact, rows, privateAction, safePrivate, method,
    codes: codes.map((c) => ({ code: c.code, meaning: c.meaning })),
    datesShifted: enabled.includes("retain_longitudinal_modified_dates"),
    cleanDescriptors: enabled.includes("clean_descriptors"),
    implementationClassUid: ENGINE.implementation_class_uid,
  };
}
