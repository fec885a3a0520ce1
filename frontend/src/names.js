// People's names cut out of kept descriptors (Clean Descriptors, issue 20): the browser's
// half of uploads/dicom/deid/names.py person_names / name_parts / names_pattern, with the
// rules as data from uploads/dicom/constants.py (ENGINE.text).
//
// Every Person Name (PN) value of every file of the upload is gathered first (dicom.js
// summarize, on this computer only); the engine then masks the family, given and middle
// name parts of all of them, as whole words, in every kept descriptor of every file.
// Pure module: no DOM.
import ENGINE from "./generated/engine-constants.js";

const COMPONENTS = ENGINE.text.name_part_components;
const WORD_SPLIT_RE = new RegExp(ENGINE.text.name_word_split, "u");
const MIN_PART = ENGINE.text.min_name_part;
const NOT_NAMES = new Set([ENGINE.dummies.text_value.toLowerCase()]);
const PSEUDONYM_RE = new RegExp(`^${ENGINE.pseudonym.prefix}[A-Z2-7]{${ENGINE.pseudonym.length}}$`);
// Python's \w on text: letters, digits and "_" (JavaScript's \w is ASCII only).
const WORD_CHAR = "[\\p{L}\\p{N}_]";

const strip = (text) => text.replace(/^[ \0]+|[ \0]+$/g, "");

function pnText(value) {
  if (value === null || value === undefined) return "";
  if (typeof value !== "object") return String(value);
  const groups = [value.Alphabetic || "", value.Ideographic || "", value.Phonetic || ""];
  while (groups.length > 1 && !groups[groups.length - 1]) groups.pop();
  return groups.join("=");
}

/** Every PN value of a dcmjs tag-keyed dict, nested sequences included (a Set). */
export function personNames(dict, found = new Set()) {
  for (const el of Object.values(dict || {})) {
    if (!el || !Array.isArray(el.Value)) continue;
    if (el.vr === "SQ") {
      for (const item of el.Value) personNames(item, found);
    } else if (el.vr === "PN") {
      for (const value of el.Value) {
        const name = strip(pnText(value));
        if (name) found.add(name);
      }
    }
  }
  return found;
}

/** The parts of PN values cut out of descriptors (deidentify.name_parts). */
export function nameParts(values) {
  const parts = new Set();
  for (const value of values) {
    if (PSEUDONYM_RE.test(strip(String(value)))) continue;
    for (const group of String(value).split("=")) {
      for (const component of group.split("^").slice(0, COMPONENTS)) {
        const whole = strip(component);
        parts.add(whole);
        for (const word of whole.split(WORD_SPLIT_RE)) parts.add(word);
      }
    }
  }
  return [...parts].filter((p) => [...p].length >= MIN_PART && !NOT_NAMES.has(p.toLowerCase()));
}

/** Whole words, case-insensitive: a RegExp (flags giu), or null when there is none. */
export function namesPattern(parts) {
  if (!parts.length) return null;
  const length = (p) => [...p].length;
  const ordered = [...parts].sort((a, b) => length(b) - length(a) || (a < b ? -1 : a > b ? 1 : 0));
  const words = ordered.map((p) => p.replace(/[\^$\\.*+?()[\]{}|/]/g, "\\$&")).join("|");
  return new RegExp(`(?<!${WORD_CHAR})(?:${words})(?!${WORD_CHAR})`, "giu");
}
