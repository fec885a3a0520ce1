// Writing a parsed file (read.js parse) back as a PS3.10 file in its original transfer
// syntax (uploads/dicom/deid/files.py write): the kept Pixel Data bytes are spliced in
// between the elements before and after them; a deflated syntax is deflated again.
import dcmjs from "dcmjs";
import { deflateSync } from "fflate";
import { DEFLATED, EXPLICIT_BE, PIXEL_DATA } from "./common.js";

const { DicomMessage, DicomDict, WriteBufferStream } = dcmjs.data;

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
