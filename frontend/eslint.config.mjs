// ESLint (flat config) for all browser code and the Node tools around it:
// `npm run lint`, part of `make lint`. One dialect: ES modules, no `var`.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: "error" },
    languageOptions: { ecmaVersion: 2022, sourceType: "module" },
    rules: {
      "no-var": "error",
      "prefer-const": "error",
      eqeqeq: ["error", "always"],
    },
  },
  {
    // Browser code: pages, workers and the engine (also run in Node by frontend/tools).
    files: ["frontend/src/**/*.js"],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ["frontend/src/*worker*.js"],
    languageOptions: { globals: { ...globals.worker } },
  },
  {
    files: ["frontend/*.mjs", "frontend/tools/**/*.mjs"],
    languageOptions: { globals: { ...globals.node } },
  },
];
