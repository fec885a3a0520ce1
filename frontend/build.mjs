// Bundle the browser entry points into static/dist (run by `make install`).
//
// First the engine constants: frontend/src/generated/engine-constants.js is rendered from
// uploads/dicom/constants.py (the one definition of the de-identification rules and
// limits), with the project's Python (.venv/bin/python when there is one, else $PYTHON or
// python3). The module is committed: where the Python engine is not there (the Docker
// image's Node stage copies only frontend/), the committed file is bundled as it is, and
// tests/frontend/test_engine_constants.py keeps it equal to the Python.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";

const GENERATED = "frontend/src/generated/engine-constants.js";

function python() {
  if (existsSync(".venv/bin/python")) return ".venv/bin/python";
  return process.env.PYTHON || "python3";
}

function generateConstants() {
  if (!existsSync("uploads/dicom/constants.py")) {
    console.log(`uploads/dicom is not here: bundling the committed ${GENERATED}`);
    return;
  }
  try {
    execFileSync(python(), ["-m", "uploads.dicom.constants", "--write", GENERATED],
      { stdio: "inherit" });
  } catch (error) {
    if (error.code !== "ENOENT") throw error; // the engine itself failed: stop the build
    console.log(`no Python (${python()}): bundling the committed ${GENERATED}`);
  }
}

generateConstants();

const entryPoints = readdirSync("frontend/src")
  .filter((name) => name.endsWith(".entry.js"))
  .map((name) => `frontend/src/${name}`);

await build({
  entryPoints,
  outdir: "static/dist",
  entryNames: "[name]",
  bundle: true,
  format: "iife",
  target: ["chrome110", "firefox110", "safari16"],
  minify: true,
  sourcemap: true,
  logLevel: "info",
});
