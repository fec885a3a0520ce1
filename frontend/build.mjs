// Bundle the browser entry points into static/dist (run by `make install`).
import { build } from "esbuild";
import { readdirSync } from "node:fs";

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
