#!/usr/bin/env node
// Run the browser's word matching (frontend/src/words.js) in Node, for the cross-check
// against uploads/dicom/words.py (tests/uploads/test_words_crosscheck.py).
//
//   node frontend/tools/words-node.mjs < cases.json
//
// cases.json: {"cases": [{"values": {keyword: [value, ...]}, "lines": [[word, ...], ...]}]}.
// stdout: {"results": [{"words": [...], "hits": [[index, ...], ...]}]}.
import { readFileSync } from "node:fs";
import { Matcher, identifyingWords } from "../src/words.js";

const { cases } = JSON.parse(readFileSync(0, "utf-8"));
const results = cases.map(({ values, lines }) => {
  const words = identifyingWords(values);
  const matcher = new Matcher(words);
  return { words, hits: lines.map((line) => [...matcher.match(line)].sort((a, b) => a - b)) };
});
process.stdout.write(JSON.stringify({ results }));
