// Dates under Retain Longitudinal Temporal Information with Modified Dates (PS3.15 E.3.6;
// uploads/dicom/deid/dates.py): every date of a patient moves by the same keyed number of
// days (uids.js dateShiftDays), so intervals are kept.
import ENGINE from "../generated/engine-constants.js";
import { DATE_SHIFTED, EMPTIED, TIMEZONE_OFFSET } from "./common.js";
import { setValues, strings } from "./elements.js";

const DA_RE = new RegExp(ENGINE.dates.da);
const DT_RE = new RegExp(ENGINE.dates.dt);
const TZ_RE = new RegExp(ENGINE.dates.timezone);
const DAY_MS = 86400000;

function shiftValue(value, vr, days) {
  const textValue = value.trim();
  const match = (vr === "DA" ? DA_RE : DT_RE).exec(textValue);
  if (!match) return null;
  const [year, month, day] = [+match[1], +match[2], +match[3]];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (year < 1 || date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 ||
      date.getUTCDate() !== day) return null; // not a calendar date
  const moved = new Date(date.getTime() + days * DAY_MS);
  const y = moved.getUTCFullYear();
  if (y < 1 || y > 9999) return null;
  const pad = (n, w) => String(n).padStart(w, "0");
  return `${pad(y, 4)}${pad(moved.getUTCMonth() + 1, 2)}${pad(moved.getUTCDate(), 2)}${textValue.slice(8)}`;
}

// DA and the date part of DT move by the patient's shift; TM and a well-formed Timezone
// Offset From UTC are kept; anything that cannot be shifted exactly loses its value.
export function shiftElement(tag, el, run) {
  const vr = el.vr;
  const values = strings(el);
  if (vr === "TM") return;
  if (vr === "SH" && tag === TIMEZONE_OFFSET && values.every((v) => TZ_RE.test(v.trim()))) return;
  if (values.length && run.shift !== null && (vr === "DA" || vr === "DT")) {
    const shifted = values.map((v) => shiftValue(v, vr, run.shift));
    if (!shifted.includes(null)) {
      run.count(tag, DATE_SHIFTED, el);
      setValues(el, shifted);
      return;
    }
  }
  run.count(tag, EMPTIED, el);
  setValues(el, []);
}
