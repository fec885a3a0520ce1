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
import dcmjs from "dcmjs";
import { deflateSync, inflateSync } from "fflate";
import ENGINE from "./generated/engine-constants.js";
import { nameParts, namesPattern, personNames } from "./names.js";
import { geometry, maskPixels, maskProblem } from "./pixelmask.js";
import { readable } from "./readable.js";

const { DicomMessage, DicomDict, ReadBufferStream, WriteBufferStream, DicomMetaDictionary } =
  dcmjs.data;

// -- the rules shared with the Python engine --------------------------------------------
// Defined once, in uploads/dicom/constants.py; the build generates ENGINE from it
// (frontend/src/generated/engine-constants.js). Only the reading and writing of bytes,
// which the Python engine leaves to pydicom, has constants of its own here.

const {
  remove: REMOVE, empty: EMPTY, dummy: DUMMY, keep: KEEP, clean: CLEAN, shift: SHIFT, uid: UID,
  uid_sequence: UID_SEQUENCE,
} = ENGINE.actions;

// Report action names (DeidAction.action in Python).
export const {
  removed: REMOVED, emptied: EMPTIED, replaced: REPLACED, uid_remapped: UID_REMAPPED,
  date_shifted: DATE_SHIFTED, cleaned: CLEANED, kept_safe_private: KEPT_SAFE_PRIVATE, added: ADDED,
} = ENGINE.report_actions;

const NORMAL = 0; // walk modes: outside any D or C sequence,
const CLEAN_TEXT = 1; // inside a C sequence (clean all text),
const DUMMY_TEXT = 2; // inside a D sequence (replace free text)
const FREE_TEXT_VRS = new Set(ENGINE.text.free_text_vrs);
const CLEANABLE_VRS = new Set(ENGINE.text.cleanable_vrs);
const DUMMIES = ENGINE.dummies;
const SAFE_PRIVATE = ENGINE.safe_private;
const SAFE_TEXT_RE = new RegExp(SAFE_PRIVATE.text);
const DA_RE = new RegExp(ENGINE.dates.da);
const DT_RE = new RegExp(ENGINE.dates.dt);
const TZ_RE = new RegExp(ENGINE.dates.timezone);
const NAME_SPLIT_RE = new RegExp(ENGINE.text.name_split, "u");
const MAX_SHIFT_DAYS = BigInt(ENGINE.dates.max_shift_days);
const DAY_MS = 86400000;
const MESSAGES = ENGINE.messages;
const VRS = new Set(ENGINE.vrs);

const {
  PatientName: PATIENT_NAME, PatientID: PATIENT_ID, PatientBirthDate: PATIENT_BIRTH_DATE,
  TimezoneOffsetFromUTC: TIMEZONE_OFFSET, SOPClassUID: SOP_CLASS_UID,
  SOPInstanceUID: SOP_INSTANCE_UID, StudyInstanceUID: STUDY_UID, SeriesInstanceUID: SERIES_UID,
  OtherPatientIDsSequence: OTHER_IDS_SEQUENCE,
} = ENGINE.tags;
const PIXEL_DATA = "7FE00010";

const IMPLICIT_LE = "1.2.840.10008.1.2";
const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const DEFLATED = ENGINE.deflated_syntax;
const EXPLICIT_BE = "1.2.840.10008.1.2.2";
const UNCOMPRESSED = new Set([IMPLICIT_LE, EXPLICIT_LE, DEFLATED, EXPLICIT_BE]);
export const IMPLEMENTATION_VERSION_NAME = ENGINE.implementation_version_name;

/** An input the engine cannot de-identify; `message` never quotes a value of the file. */
export class DeidError extends Error {
  constructor(message) {
    super(message);
    this.name = "DeidError";
  }
}

// -- dcmjs: keep the character set of nested items ----------------------------------------

// dcmjs reads each sequence item from a sub-stream made by ReadBufferStream.more(), which
// starts with the default (latin1) decoder: text inside sequences of a UTF-8 file would be
// decoded wrongly and written back garbled. Hand the parent's decoder down (idempotent).
if (!ReadBufferStream.prototype.__portalDecoderPatch) {
  const more = ReadBufferStream.prototype.more;
  ReadBufferStream.prototype.more = function moreWithDecoder(length) {
    const child = more.call(this, length);
    if (this.decoder) child.setDecoder(this.decoder);
    return child;
  };
  ReadBufferStream.prototype.__portalDecoderPatch = true;
}

// -- the profile, compiled for a set of options (uploads/dicom/profile.py) ----------------

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

// -- keyed pseudonyms (uploads/dicom/uids.py) ---------------------------------------------

const encoder = new TextEncoder();

function hexToBytes(hex) {
  const clean = hex.trim();
  if (!/^([0-9a-fA-F]{2})+$/.test(clean)) throw new DeidError("the de-identification key is not hex");
  return Uint8Array.from(clean.match(/../g), (b) => parseInt(b, 16));
}

async function importKey(key) {
  const raw = typeof key === "string" ? hexToBytes(key) : new Uint8Array(key);
  if (!raw.length) throw new DeidError(MESSAGES.empty_key);
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

// HMAC(key, label + 0x00 + UTF-8(value)), as uids._digest.
async function digest(cryptoKey, label, value) {
  const text = encoder.encode(value);
  const message = new Uint8Array(label.length + 1 + text.length);
  message.set(encoder.encode(label), 0);
  message.set(text, label.length + 1);
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, message));
}

function bigIntOf(bytes) {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return value;
}

const stripUid = (uid) => uid.replace(/^[\0 ]+|[\0 ]+$/g, "");

// 2.25.<decimal of an RFC 9562 version-8 UUID made of the HMAC's first 16 bytes>.
export async function remapUid(cryptoKey, uid) {
  const value = stripUid(uid);
  if (!value) return "";
  let n = bigIntOf((await digest(cryptoKey, ENGINE.hmac_labels.uid, value)).subarray(0, 16));
  n = (n & ~(0xfn << 76n)) | (0x8n << 76n);
  n = (n & ~(0x3n << 62n)) | (0x2n << 62n);
  return `${ENGINE.uids.default_root}.${n}`;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// The prefix and base-32 (RFC 4648) of the HMAC's first bits, 5 a character.
export async function patientPseudonym(cryptoKey, identity) {
  const { prefix, length } = ENGINE.pseudonym;
  const bytes = await digest(cryptoKey, ENGINE.hmac_labels.patient, identity);
  const size = Math.ceil((5 * length) / 8); // 7 bytes (56 bits) for 10 characters
  const bits = bigIntOf(bytes.subarray(0, size));
  let code = "";
  for (let i = 0; i < length; i += 1) {
    code += BASE32[Number((bits >> BigInt(8 * size - 5 * (i + 1))) & 31n)];
  }
  return `${prefix}${code}`;
}

export async function dateShiftDays(cryptoKey, identity) {
  const bytes = await digest(cryptoKey, ENGINE.hmac_labels.date_shift, identity);
  return -(1 + Number(bigIntOf(bytes.subarray(0, 8)) % MAX_SHIFT_DAYS));
}

// -- values of the raw dcmjs dict ---------------------------------------------------------

const strip = (text) => text.replace(/^[ \0]+|[ \0]+$/g, "");

function personName(value) {
  if (typeof value !== "object" || value === null) return String(value ?? "");
  const parts = [value.Alphabetic || "", value.Ideographic || "", value.Phonetic || ""];
  while (parts.length > 1 && !parts[parts.length - 1]) parts.pop();
  return parts.join("=");
}

// The values of a text element as strings, [] when empty (deidentify._strings).
function strings(el) {
  if (!el || !Array.isArray(el.Value) || !el.Value.length) return [];
  const raw = Array.isArray(el._rawValue) ? el._rawValue : null;
  const values = el.Value.map((v, i) => {
    if (v === null || v === undefined) return "";
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return "";
    if (typeof v === "object") return personName(v);
    if (typeof v === "number" && raw && typeof raw[i] === "string") return raw[i];
    return String(v);
  }).map(strip);
  return values.join("") === "" && values.length <= 1 ? [] : values;
}

const text = (dict, tag) => strings(dict[tag]).join("\\");

function setValues(el, values) {
  el.Value = values;
  delete el._rawValue; // written from Value, not from the original bytes
}

function isSequence(el) {
  return el.vr === "SQ";
}

function bytesOf(value) {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return null;
}

// -- one run over one data set ------------------------------------------------------------

class Run {
  constructor(engine, pseudonym, shift, scrub, collect, namesRe = null) {
    this.compiled = engine.compiled;
    this.pseudonym = pseudonym;
    this.shift = shift;
    this.scrubRe = scrub;
    this.namesRe = namesRe;
    this.collect = collect;
    this.counts = new Map(); // "tag|action" -> {tag, action, count, changed, values}
    this.pendingUids = []; // [element, original values] remapped after the walk
  }

  // Count one action (as DeidResult.actions does); `changed` counts the cleanings that
  // actually cut something out (the preview lists only those).
  count(tag, action, el, changed = 1) {
    const key = `${tag}|${action}`;
    let entry = this.counts.get(key);
    if (!entry) {
      entry = { tag, action, count: 0, changed: 0, values: [] };
      this.counts.set(key, entry);
    }
    entry.count += 1;
    entry.changed += changed;
    if (this.collect && el && entry.values.length < 3) {
      const shown = describeValue(el);
      if (shown && !entry.values.includes(shown)) entry.values.push(shown);
    }
    return entry;
  }

  // The patient's names and IDs anywhere, then every person's name parts as whole words.
  scrub(value) {
    let out = value;
    for (const pattern of [this.scrubRe, this.namesRe]) {
      if (pattern && out) out = out.replace(pattern, (m) => "*".repeat([...m].length));
    }
    return out;
  }
}

// An original value, for the local preview only (never sent anywhere).
function describeValue(el) {
  if (isSequence(el)) return "";
  const values = strings(el);
  if (values.length) return values.map((v) => readable(v, el.vr)).join(", ").slice(0, 80);
  if (Array.isArray(el.Value) && el.Value.some((v) => bytesOf(v))) return "(binary data)";
  return "";
}

function dummyValues(vr) {
  if (vr in DUMMIES.text) return [DUMMIES.text[vr]];
  if (vr in DUMMIES.number) return [DUMMIES.number[vr]];
  if (vr in DUMMIES.zero_bytes) return [new ArrayBuffer(DUMMIES.zero_bytes[vr])];
  return [DUMMIES.text_value];
}

function walk(dict, run, mode) {
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

function applyToValue(tag, el, action, run) {
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

// Free text not listed in Table E.1-1 inside a D (dummy) or C (clean) sequence.
function textInSequence(tag, el, run, mode) {
  if (mode === DUMMY_TEXT && FREE_TEXT_VRS.has(el.vr)) {
    if (strings(el).join("")) {
      run.count(tag, REPLACED, el);
      setValues(el, [DUMMIES.text_value]);
    }
  } else if (CLEANABLE_VRS.has(el.vr)) {
    const before = describeValue(el);
    if (scrubElement(el, run)) run.count(tag, CLEANED, { vr: el.vr, Value: [before] });
  }
}

function scrubElement(el, run) {
  const values = strings(el);
  const cleaned = values.map((v) => run.scrub(v));
  if (cleaned.every((v, i) => v === values[i])) return false;
  setValues(el, cleaned);
  return true;
}

// -- dates (Retain Longitudinal Temporal Information with Modified Dates) -----------------

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
function shiftElement(tag, el, run) {
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

// -- private elements: keep the safe allow-list (with its creators), remove the rest -------

function safePrivateValue(el, row) {
  const vr = el.vr;
  if (vr === "UN") {
    const data = bytesOf(el.Value && el.Value[0]) || new Uint8Array(0);
    if (row.vr in SAFE_PRIVATE.binary_sizes) return data.length % SAFE_PRIVATE.binary_sizes[row.vr] === 0;
    if (data.some((b) => b > 0x7f)) return false;
    const texts = String.fromCharCode(...data).split("\\");
    return SAFE_PRIVATE.text_vrs.includes(row.vr) && texts.every((t) => SAFE_TEXT_RE.test(t));
  }
  if (vr !== row.vr) return false;
  if (row.vr in SAFE_PRIVATE.binary_sizes) return true;
  const raw = Array.isArray(el._rawValue) ? el._rawValue.map(String) : strings(el);
  return SAFE_PRIVATE.text_vrs.includes(row.vr) && raw.every((t) => SAFE_TEXT_RE.test(t));
}

function privateElements(dict, tags, run) {
  const compiled = run.compiled;
  const creators = new Map();
  const keptBlocks = new Set();
  if (compiled.privateAction === CLEAN && compiled.safePrivate.size) {
    for (const tag of tags) {
      const element = parseInt(tag.slice(4), 16);
      if (element >= 0x10 && element <= 0xff) {
        const creator = strings(dict[tag]).join("\\");
        if (creator) creators.set(`${tag.slice(0, 4)}${tag.slice(6)}`, creator);
      }
    }
  }
  for (const tag of tags) {
    const element = parseInt(tag.slice(4), 16);
    if (element < 0x100) continue;
    const block = `${tag.slice(0, 4)}${tag.slice(4, 6)}`;
    const creator = creators.get(block);
    const row = creator && compiled.safePrivate.get(`${tag.slice(0, 4)}|${creator}|${tag.slice(6)}`);
    if (row && safePrivateValue(dict[tag], row)) {
      keptBlocks.add(block);
      run.count(tag, KEPT_SAFE_PRIVATE);
    } else {
      run.count(tag, REMOVED, dict[tag]);
      delete dict[tag];
    }
  }
  for (const tag of tags) {
    const element = parseInt(tag.slice(4), 16);
    if (element < 0x100 && !keptBlocks.has(`${tag.slice(0, 4)}${tag.slice(6)}`)) {
      run.count(tag, REMOVED, dict[tag]);
      delete dict[tag];
    }
  }
}

// -- identity, descriptors, pixel review --------------------------------------------------

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
function scrubPattern(dict) {
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

const REVIEW = ENGINE.pixel_review;
const REVIEW_RULES = REVIEW.rules.map((rule) => ({ ...rule, values: new Set(rule.values),
  unless_values: new Set(rule.unless_values) }));
const OVERLAY_DATA = REVIEW.overlay_data_element.toString(16).toUpperCase().padStart(4, "0");

/** Why the pixels need a human look before release, or "" (deidentify.pixel_review). */
export function pixelReview(dict) {
  for (const rule of REVIEW_RULES) { // first match wins (ENGINE.pixel_review.rules)
    const value = text(dict, rule.tag).toUpperCase();
    if (rule.values.has(value) &&
        !(rule.unless_tag && rule.unless_values.has(text(dict, rule.unless_tag).toUpperCase()))) {
      return rule.reason.replace("{value}", value);
    }
  }
  const groups = new Set(Object.keys(dict).map((t) => t.slice(0, 4))
    .filter((g) => (parseInt(g, 16) & REVIEW.overlay_group.mask) === REVIEW.overlay_group.value));
  for (const g of groups) {
    if (!(`${g}${OVERLAY_DATA}` in dict)) return REVIEW.overlay_reason;
  }
  return "";
}

// -- reading ------------------------------------------------------------------------------

// dcmjs logs (instead of throwing) when a value is shorter than declared, and with
// ignoreErrors it logs and swallows any error: collect those messages while reading.
function captureDcmjsLog(fn) {
  const loggers = [dcmjs.log, dcmjs.log.getLogger("validation.dcmjs")];
  const saved = loggers.map((l) => [l.warn, l.error]);
  const messages = [];
  for (const l of loggers) {
    l.warn = (...args) => messages.push(args.map(String).join(" "));
    l.error = () => {}; // "Invalid vr type xs - using US" and the like: harmless
  }
  try {
    return { result: fn(), messages };
  } finally {
    loggers.forEach((l, i) => { [l.warn, l.error] = saved[i]; });
  }
}

// Encoding of a data set without File Meta Information (no preamble): explicit VR when
// bytes 4-5 spell a VR, else implicit VR little endian (as pydicom guesses).
function guessSyntax(bytes, offset) {
  const vr = String.fromCharCode(bytes[offset + 4] || 0, bytes[offset + 5] || 0);
  return VRS.has(vr) ? EXPLICIT_LE : IMPLICIT_LE;
}

function readMeta(stream, bytes) {
  const start = stream.offset;
  if (bytes[start] !== 0x02 || bytes[start + 1] !== 0x00) return {}; // no meta at all
  if (bytes[start + 2] === 0x00 && bytes[start + 3] === 0x00) { // group length first
    const first = DicomMessage._readTag(stream, EXPLICIT_LE);
    return DicomMessage._read(stream.more(first.values[0]), EXPLICIT_LE, { ignoreErrors: false });
  }
  // No group length: read group 0002 element by element.
  return DicomMessage._read(stream, EXPLICIT_LE,
    { untilTag: "00030000", stopOnGreaterTag: true, ignoreErrors: true });
}

function transferSyntax(meta, bytes, offset) {
  const ts = meta["00020010"] && strings(meta["00020010"])[0];
  return ts || guessSyntax(bytes, offset);
}

// The top-level Pixel Data element: [start, end) of its encoded bytes in `bytes`.
function pixelElementEnd(bytes, start, syntax) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = syntax !== EXPLICIT_BE;
  const implicit = syntax === IMPLICIT_LE;
  const need = (n) => {
    if (n > bytes.length) {
      throw new DeidError("not readable: the file is truncated (it ends inside the image data)");
    }
  };
  need(start + 8);
  let pos = start + 4;
  let length;
  if (implicit) {
    length = view.getUint32(pos, little);
    pos += 4;
  } else {
    need(pos + 8);
    length = view.getUint32(pos + 4, little);
    pos += 8;
  }
  if (length !== 0xffffffff) {
    need(pos + length);
    return pos + length;
  }
  for (;;) { // encapsulated: items until the sequence delimiter
    need(pos + 8);
    const group = view.getUint16(pos, true);
    const element = view.getUint16(pos + 2, true);
    const itemLength = view.getUint32(pos + 4, true);
    pos += 8;
    if (group === 0xfffe && element === 0xe0dd) return pos;
    if (group !== 0xfffe || element !== 0xe000) {
      throw new DeidError("not readable: the image data is damaged");
    }
    need(pos + itemLength);
    pos += itemLength;
  }
}

function allZero(bytes, from) {
  for (let i = from; i < bytes.length; i += 1) if (bytes[i]) return false;
  return true;
}

/**
 * Parse a DICOM file into {meta, dict, syntax, pixel} without decoding Pixel Data: the
 * top-level Pixel Data element is kept as its original encoded bytes and written back
 * byte for byte (as the server engine does).
 */
export function parse(buffer) {
  const original = new Uint8Array(buffer);
  if (!original.length) throw new DeidError("empty file: not a DICOM file");
  const hasPreamble = original.length >= 132 &&
    String.fromCharCode(...original.subarray(128, 132)) === "DICM";
  const { result, messages } = captureDcmjsLog(() => {
    let stream = new ReadBufferStream(buffer, null, { noCopy: true });
    stream.reset();
    if (hasPreamble) stream.increment(132);
    const meta = readMeta(stream, original);
    const syntax = transferSyntax(meta, original, stream.offset);
    let bytes = original;
    let readSyntax = syntax;
    if (syntax === DEFLATED) { // PS3.5 A.5: the data set after the meta is raw deflate
      bytes = inflateSync(original.subarray(stream.offset));
      stream = new ReadBufferStream(bytes.buffer, null, { noCopy: true });
      readSyntax = EXPLICIT_LE;
    } else if (!UNCOMPRESSED.has(syntax)) {
      readSyntax = EXPLICIT_LE; // encapsulated syntaxes encode the data set as explicit LE
    }
    const dict = DicomMessage._read(stream, readSyntax,
      { untilTag: PIXEL_DATA, stopOnGreaterTag: true, ignoreErrors: false });
    let pixel = null;
    let tail = {};
    if (dict[PIXEL_DATA]) {
      delete dict[PIXEL_DATA]; // a placeholder: reading stopped at its tag
      const start = stream.offset - 4;
      const end = pixelElementEnd(bytes, start, readSyntax);
      pixel = bytes.subarray(start, end);
      stream.offset = end;
    }
    if (!stream.end() && !allZero(bytes, stream.offset)) { // elements after Pixel Data
      tail = DicomMessage._read(stream, readSyntax, { ignoreErrors: true });
      for (const tag of Object.keys(tail)) if (tag.startsWith("0000")) delete tail[tag];
    }
    return { meta, dict: Object.assign(dict, tail), syntax, readSyntax, pixel };
  });
  if (messages.some((m) => /declares \d+ bytes but only/.test(m))) {
    throw new DeidError(MESSAGES.truncated_element);
  }
  return result;
}

function readOrThrow(buffer) {
  try {
    return parse(buffer);
  } catch (error) {
    if (error instanceof DeidError) throw error;
    if (/character set/i.test(String(error && error.message))) {
      throw new DeidError("its character set cannot be handled by the browser");
    }
    const reason = /insufficient data|more than currently allocated|out of bounds|Offset is outside/i
      .test(String(error && error.message)) ? "the file is truncated" : "the file is damaged";
    throw new DeidError(`not readable by the browser: ${reason}`);
  }
}

// -- writing ------------------------------------------------------------------------------

const WRITE_OPTIONS = { allowInvalidVRLength: true };

function writeElements(dict, syntax) {
  const stream = new WriteBufferStream(16384, syntax !== EXPLICIT_BE);
  DicomMessage.write(dict, stream, syntax, WRITE_OPTIONS);
  return new Uint8Array(stream.getBuffer());
}

function concat(parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Encode {meta, dict, pixel} as a PS3.10 file in the original transfer syntax. */
export function encode(parsed) {
  const { meta, dict, syntax, readSyntax, pixel } = parsed;
  const header = new Uint8Array(new DicomDict(meta).write(WRITE_OPTIONS)); // preamble + meta
  const before = {};
  const after = {};
  for (const tag of Object.keys(dict)) (tag < PIXEL_DATA ? before : after)[tag] = dict[tag];
  const body = [writeElements(before, readSyntax)];
  if (pixel) body.push(pixel);
  if (Object.keys(after).length) body.push(writeElements(after, readSyntax));
  if (syntax === DEFLATED) return concat([header, deflateSync(concat(body), { level: 6 })]).buffer;
  return concat([header, ...body]).buffer;
}

// -- the engine ---------------------------------------------------------------------------

function element(vr, values) {
  return { vr, Value: values };
}

function methodCodeSequence(compiled) {
  return compiled.codes.map((c) => ({
    "00080100": element("SH", [c.code]),
    "00080102": element("SH", [ENGINE.method.coding_scheme]),
    "00080104": element("LO", [c.meaning]),
  }));
}

function addDeidentificationAttributes(dict, run, compiled) {
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

// The input's pixels were cleaned before (deidentify._pixels_cleaned): Burned In
// Annotation NO and the Clean Pixel Data Option's code.
function pixelsCleaned(dict) {
  const tags = ENGINE.tags;
  if (text(dict, tags.BurnedInAnnotation).toUpperCase() !== "NO") return false;
  const items = dict[tags.DeidentificationMethodCodeSequence]?.Value || [];
  return items.some((item) => text(item, "00080100") === ENGINE.clean_pixel_code.code);
}

// After the pixels were cleaned (pixelmask.js): Burned In Annotation NO and the Clean
// Pixel Data Option's code (PS3.15 E.3.1, CID 7050).
function markPixelsCleaned(dict) {
  const tags = ENGINE.tags;
  dict[tags.BurnedInAnnotation] = element("CS", ["NO"]);
  const code = ENGINE.clean_pixel_code;
  dict[tags.DeidentificationMethodCodeSequence].Value.push({
    "00080100": element("SH", [code.code]),
    "00080102": element("SH", [ENGINE.method.coding_scheme]),
    "00080104": element("LO", [code.meaning]),
  });
}

function newMeta(sopClass, sopInstance, syntax, compiled) {
  return {
    "00020001": element("OB", [new Uint8Array([0, 1]).buffer]),
    "00020002": element("UI", [sopClass]),
    "00020003": element("UI", [sopInstance]),
    "00020010": element("UI", [syntax]),
    "00020012": element("UI", [compiled.implementationClassUid]),
    "00020013": element("SH", [IMPLEMENTATION_VERSION_NAME]),
  };
}

function keywordOf(tag, compiled) {
  if (parseInt(tag.slice(0, 4), 16) & 1) return { keyword: "", name: "private attribute" };
  const row = compiled.rows.get(tag);
  if (row) return { keyword: row.keyword, name: row.name };
  const entry = DicomMetaDictionary.dictionary[`(${tag.slice(0, 4)},${tag.slice(4)})`];
  const keyword = entry ? entry.name.replace(/^RETIRED_/, "") : "";
  return { keyword, name: keyword.replace(/([a-z])([A-Z])/g, "$1 $2") };
}

function actionsReport(run, compiled) {
  return [...run.counts.values()]
    .sort((a, b) => (a.tag === b.tag ? a.action.localeCompare(b.action) : a.tag < b.tag ? -1 : 1))
    .map((e) => ({ tag: `${e.tag.slice(0, 4)},${e.tag.slice(4)}`, ...keywordOf(e.tag, compiled),
      action: e.action, count: e.count, changed: e.changed,
      private: Boolean(parseInt(e.tag.slice(0, 4), 16) & 1),
      ...(run.collect ? { values: e.values } : {}) }));
}

/**
 * Create an engine for one key and profile.
 * @param {object} config {profile, options?, key (hex string or bytes)}
 * @returns {Promise<{deidentify: Function, compiled: object}>}
 */
export async function createEngine({ profile, options, key }) {
  const compiled = compileProfile(profile, options || profile.options);
  const cryptoKey = await importKey(key);
  const uidCache = new Map();
  const uid = async (value) => {
    let found = uidCache.get(value);
    if (found === undefined) {
      if (uidCache.size > 200000) uidCache.clear();
      found = await remapUid(cryptoKey, value);
      uidCache.set(value, found);
    }
    return found;
  };
  const engine = { compiled, cryptoKey, uid };
  engine.deidentify = (buffer, opts = {}) => deidentify(engine, buffer, opts);
  return engine;
}

async function remapPendingUids(run, engine) {
  const unique = [...new Set(run.pendingUids.flatMap(([, values]) => values))];
  const mapped = new Map(await Promise.all(unique.map(async (v) => [v, await engine.uid(v)])));
  for (const [el, values] of run.pendingUids) setValues(el, values.map((v) => mapped.get(v)));
}

function checkUsable(parsed) {
  const { meta, dict } = parsed;
  if (text(meta, "00020002") === ENGINE.dicomdir_sop_class ||
      ENGINE.tags.DirectoryRecordSequence in dict) {
    throw new DeidError(MESSAGES.dicomdir);
  }
  if (!text(dict, SOP_CLASS_UID) || !text(dict, SOP_INSTANCE_UID)) {
    throw new DeidError(MESSAGES.no_sop_uids);
  }
}

/**
 * De-identify one encoded DICOM file.
 * @param {object} engine from createEngine
 * @param {ArrayBuffer} buffer the original file (not modified)
 * @param {object} opts {collectValues: keep original values in the report (local preview
 *   only), thumbnail: render a small preview of images flagged for pixel review, names:
 *   the Person Name values of the other files of the upload (names.js personNames)}
 * @returns {Promise<{bytes: ArrayBuffer, report: object}>}
 * @throws {DeidError} for files it cannot read or rewrite; the message quotes no value
 */
async function deidentify(engine, buffer, opts = {}) {
  const { compiled } = engine;
  const parsed = readOrThrow(buffer);
  checkUsable(parsed);
  const { dict } = parsed;
  const review = pixelReview(dict);
  const cleanedBefore = pixelsCleaned(dict);
  const thumb = opts.thumbnail && review ? thumbnail(parsed) : null;
  const headerWords = opts.collectValues && review ? identifyingValues(dict) : null;
  const identity = patientIdentity(dict);
  const pseudonym = await patientPseudonym(engine.cryptoKey, identity);
  const shift = compiled.datesShifted ? await dateShiftDays(engine.cryptoKey, identity) : null;
  const scrub = compiled.cleanDescriptors ? scrubPattern(dict) : null;
  const names = compiled.cleanDescriptors
    ? namesPattern(nameParts(personNames(dict, new Set(opts.names || [])))) : null;
  const run = new Run(engine, pseudonym, shift, scrub, Boolean(opts.collectValues), names);
  try {
    walk(dict, run, NORMAL);
  } catch {
    throw new DeidError("not readable by the browser: the file is damaged");
  }
  await remapPendingUids(run, engine);
  addDeidentificationAttributes(dict, run, compiled);
  const masked = opts.masks && opts.masks.length ? maskPixels(parsed, opts.masks) : 0;
  if (masked || cleanedBefore) markPixelsCleaned(dict);
  const sopClass = text(dict, SOP_CLASS_UID);
  const sopInstance = text(dict, SOP_INSTANCE_UID);
  parsed.meta = newMeta(sopClass, sopInstance, parsed.syntax, compiled);
  let bytes;
  try {
    bytes = encode(parsed);
  } catch {
    throw new DeidError("could not be rewritten by the browser (unusual values in the file)");
  }
  return {
    bytes,
    report: {
      sopInstanceUid: sopInstance, studyInstanceUid: text(dict, STUDY_UID),
      seriesInstanceUid: text(dict, SERIES_UID), sopClassUid: sopClass,
      patientPseudonym: pseudonym, datesShifted: shift !== null, dateShiftDays: shift,
      needsPixelReview: Boolean(review), reason: review, thumbnail: thumb, headerWords,
      image: review ? { ...geometry(dict), cannotMask: maskProblem(parsed) } : null,
      regionsMasked: masked,
      profileEdition: compiled.edition, options: compiled.options,
      actions: actionsReport(run, compiled),
    },
  };
}

// -- thumbnail for the burned-in text warning ---------------------------------------------

/**
 * The original values whose words are looked for in the pixels (ENGINE.identifying_words,
 * defined once in uploads/dicom/constants.py): {keyword: [value, ...]}. Kept on the page and
 * never sent: the words the portal reads in the small preview are matched against them here
 * (textboxes.js, words.js).
 */
function identifyingValues(dict) {
  const found = {};
  for (const tags of Object.values(ENGINE.identifying_words)) {
    for (const [keyword, tag] of Object.entries(tags)) {
      const values = dict[tag] ? strings(dict[tag]).filter((v) => v.trim()) : [];
      if (values.length) found[keyword] = values;
    }
  }
  return found;
}

// Big enough to place boxes on (boxeditor.js) and for the portal to read the text in it
// (textboxes.js; the portal reads at most 640 pixels on the long side).
const THUMB_MAX = 640;

function number(dict, tag, fallback) {
  const v = strings(dict[tag])[0];
  const n = v === undefined || v === "" ? NaN : Number(v);
  return Number.isFinite(n) ? n : fallback;
}

/**
 * A small RGBA rendering of the first frame of uncompressed 8/16-bit greyscale or RGB
 * pixel data with a min/max window: {width, height, rgba: ArrayBuffer}, or
 * {unavailable: reason} (compressed, palette, YBR ...).
 */
export function thumbnail(parsed) {
  const { dict, syntax, pixel, readSyntax } = parsed;
  if (!pixel) return { unavailable: "no image data" };
  if (!UNCOMPRESSED.has(syntax)) return { unavailable: "compressed image: no preview" };
  const rows = number(dict, "00280010", 0);
  const cols = number(dict, "00280011", 0);
  const bits = number(dict, "00280100", 0);
  const samples = number(dict, "00280002", 1);
  const photometric = text(dict, "00280004").toUpperCase();
  const grey = photometric.startsWith("MONOCHROME") && samples === 1;
  const rgb = photometric === "RGB" && samples === 3;
  if (!rows || !cols || (bits !== 8 && bits !== 16) || !(grey || rgb) || (rgb && bits !== 8)) {
    return { unavailable: "this kind of image cannot be previewed" };
  }
  const header = readSyntax === IMPLICIT_LE ? 8 : 12;
  const data = pixel.subarray(header);
  if (data.length < rows * cols * samples * (bits / 8)) return { unavailable: "image data too short" };
  const scale = Math.max(1, Math.max(rows, cols) / THUMB_MAX);
  const width = Math.max(1, Math.floor(cols / scale));
  const height = Math.max(1, Math.floor(rows / scale));
  const rgba = new Uint8ClampedArray(width * height * 4);
  if (rgb) renderRgb(data, dict, rows, cols, width, height, scale, rgba);
  else renderGrey(data, dict, { cols, bits, width, height, scale, little: readSyntax !== EXPLICIT_BE,
    signed: number(dict, "00280103", 0) === 1, invert: photometric === "MONOCHROME1" }, rgba);
  return { width, height, rgba: rgba.buffer };
}

function renderGrey(data, dict, g, rgba) {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const read = g.bits === 8
    ? (i) => (g.signed ? view.getInt8(i) : view.getUint8(i))
    : (i) => (g.signed ? view.getInt16(2 * i, g.little) : view.getUint16(2 * i, g.little));
  const sampled = new Float64Array(g.width * g.height);
  let lo = Infinity;
  let hi = -Infinity;
  for (let y = 0; y < g.height; y += 1) {
    for (let x = 0; x < g.width; x += 1) {
      const v = read(Math.floor(y * g.scale) * g.cols + Math.floor(x * g.scale));
      sampled[y * g.width + x] = v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  const range = hi - lo || 1;
  sampled.forEach((v, i) => {
    let level = Math.round(((v - lo) / range) * 255);
    if (g.invert) level = 255 - level;
    rgba.set([level, level, level, 255], i * 4);
  });
}

function renderRgb(data, dict, rows, cols, width, height, scale, rgba) {
  const planar = number(dict, "00280006", 0) === 1;
  const plane = rows * cols;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const p = Math.floor(y * scale) * cols + Math.floor(x * scale);
      const o = (y * width + x) * 4;
      for (let c = 0; c < 3; c += 1) rgba[o + c] = planar ? data[c * plane + p] : data[p * 3 + c];
      rgba[o + 3] = 255;
    }
  }
}
