// Keyed UIDs, pseudonym and date shift (uploads/dicom/uids.py): HMAC-SHA256 via
// crypto.subtle, with the same labels and encodings, so that the Python engine given the
// same key and the root "2.25" produces the same UIDs (PS3.5 9.1, B.2), pseudonym and
// shifted dates.
import ENGINE from "../generated/engine-constants.js";
import { DeidError, MESSAGES } from "./common.js";

const MAX_SHIFT_DAYS = BigInt(ENGINE.dates.max_shift_days);
const encoder = new TextEncoder();

function hexToBytes(hex) {
  const clean = hex.trim();
  if (!/^([0-9a-fA-F]{2})+$/.test(clean)) throw new DeidError("the de-identification key is not hex");
  return Uint8Array.from(clean.match(/../g), (b) => parseInt(b, 16));
}

/** The HMAC key for `key` (a hex string or bytes). */
export async function importKey(key) {
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
