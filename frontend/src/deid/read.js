// Reading a DICOM file (uploads/dicom/deid/files.py read) into {meta, dict, syntax,
// readSyntax, pixel} with dcmjs, without decoding Pixel Data: the top-level Pixel Data
// element is kept as its original encoded bytes and written back byte for byte (write.js).
import dcmjs from "dcmjs";
import { inflateSync } from "fflate";
import ENGINE from "../generated/engine-constants.js";
import {
  DEFLATED, DeidError, EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE, MESSAGES, PIXEL_DATA, UNCOMPRESSED,
} from "./common.js";
import { strings } from "./elements.js";

const { DicomMessage, ReadBufferStream } = dcmjs.data;
const VRS = new Set(ENGINE.vrs);

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

/** parse(), with every failure as a DeidError that quotes no value of the file. */
export function readOrThrow(buffer) {
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
