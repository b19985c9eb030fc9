// Builds the console's page into ../static/: app.js (TypeScript and its npm dependencies, one minified bundle),
// app.css and index.html.  `make console` runs it after `npm ci` and a type check; the output is committed, so
// `meshplane console` needs neither node nor the network.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.ts")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2022"],
  legalComments: "linked",
  outfile: join(out, "app.js"),
  logLevel: "info",
});
copyFileSync(join(here, "src", "style.css"), join(out, "app.css"));
copyFileSync(join(here, "index.html"), join(out, "index.html"));
