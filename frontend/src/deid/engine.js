// The engine for one key and profile (uploads/dicom/deid/engine.py): de-identify one
// encoded file, from reading it to writing the new bytes and the report.
import ENGINE from "../generated/engine-constants.js";
import { nameParts, namesPattern, personNames } from "../names.js";
import { geometry, maskPixels, maskProblem } from "../pixelmask.js";
import {
  DeidError, IMPLEMENTATION_VERSION_NAME, MESSAGES, SERIES_UID, SOP_CLASS_UID, SOP_INSTANCE_UID,
  STUDY_UID,
} from "./common.js";
import { element, setValues, text } from "./elements.js";
import { patientIdentity, scrubPattern } from "./identity.js";
import { addDeidentificationAttributes, markPixelsCleaned } from "./markers.js";
import { compileProfile } from "./profile.js";
import { readOrThrow } from "./read.js";
import { actionsReport } from "./report.js";
import { pixelReview, pixelsCleaned } from "./review.js";
import { Run } from "./run.js";
import { identifyingValues, thumbnail } from "./thumbnail.js";
import { dateShiftDays, importKey, patientPseudonym, remapUid } from "./uids.js";
import { NORMAL, walk } from "./walk.js";
import { encode } from "./write.js";

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
