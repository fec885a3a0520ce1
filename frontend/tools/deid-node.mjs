#!/usr/bin/env node
// Run the browser de-identification engine (frontend/src/deid-engine.js) in Node, for the
// cross-check against the Python engine (tests/uploads/test_deid_crosscheck.py) and for
// looking at its output with other tools. Node 20+ has globalThis.crypto.subtle.
//
//   node frontend/tools/deid-node.mjs --profile profile.json --key HEX --out DIR FILE...
//
// profile.json is the body of GET /api/deid/profile/ (uploads.deid_api.profile_payload()).
// Each FILE is written to DIR/<n>_<its name>; a JSON summary goes to stdout:
// {"files": [{"input", "output", "report"} or {"input", "error"}]}. Reports hold tags and
// actions only, never values. --options a,b overrides the profile's enabled options.
// --names-across: the Person Name values of all FILEs are gathered first and cut out of
// the descriptors of each (as the upload page does for the files of one upload).
// --mask x,y,w,h (repeatable): black out that region of every frame (pixelmask.js).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { createEngine, DeidError, parse } from "../src/deid-engine.js";
import { personNames } from "../src/names.js";

function parseArgs(argv) {
  const args = { files: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--names-across") {
      args.namesAcross = true;
    } else if (arg === "--mask") {
      const [x, y, w, h] = argv[(i += 1)].split(",").map(Number);
      (args.masks ||= []).push({ x, y, w, h });
    } else if (arg === "--profile" || arg === "--key" || arg === "--out" || arg === "--options") {
      args[arg.slice(2)] = argv[(i += 1)];
    } else {
      args.files.push(arg);
    }
  }
  if (!args.profile || !args.key || !args.out) {
    throw new Error("usage: deid-node.mjs --profile P.json --key HEX --out DIR [--options a,b] FILE...");
  }
  return args;
}

function toArrayBuffer(buffer) {
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const profile = JSON.parse(readFileSync(args.profile, "utf-8"));
  const options = args.options === undefined ? undefined
    : args.options.split(",").map((s) => s.trim()).filter(Boolean);
  const engine = await createEngine({ profile, options, key: args.key });
  mkdirSync(args.out, { recursive: true });
  const names = new Set();
  if (args.namesAcross) {
    for (const input of args.files) {
      try {
        personNames(parse(toArrayBuffer(readFileSync(input))).dict, names);
      } catch {
        // not readable: refused below, with its reason
      }
    }
  }
  const files = [];
  for (const [index, input] of args.files.entries()) {
    try {
      const { bytes, report } = await engine.deidentify(toArrayBuffer(readFileSync(input)),
        { names: [...names], masks: args.masks || [] });
      const output = join(args.out, `${index}_${basename(input)}`);
      writeFileSync(output, new Uint8Array(bytes));
      delete report.thumbnail;
      files.push({ input, output, report });
    } catch (error) {
      if (!(error instanceof DeidError)) throw error;
      files.push({ input, error: error.message });
    }
  }
  process.stdout.write(`${JSON.stringify({ files })}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
