// Build the front-end assets into web/static/govuk/ (git-ignored): `npm run build`.
//
// 1. Compile web/assets/main.scss (GOV.UK Frontend with our settings) to
//    css/framework-match.min.css.
// 2. Copy GOV.UK Frontend's ES module bundle to js/govuk-frontend.min.js.
//
// GOV.UK Frontend's own images, favicons and manifest are deliberately NOT copied:
// they carry the crown and the GOV.UK brand, which a service not on GOV.UK must not
// use. Our own favicon lives in web/static/images/.
//
// The output is a pure function of the pinned packages and our sources: the folder
// is emptied first, and no timestamps or source maps with absolute paths are written.

import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

import * as sass from "sass";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const out = join(root, "web", "static", "govuk");
const require = createRequire(import.meta.url);
const govukDist = join(dirname(require.resolve("govuk-frontend/package.json")), "dist", "govuk");

// The compiled CSS must reference no font and no image: system fonts only, and
// GOV.UK Frontend's one image is the crest (see _url-handlers.scss).
const FORBIDDEN = ["GDS Transport", "@font-face", "govuk-crest", "url("];

function build() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, "css"), { recursive: true });
  mkdirSync(join(out, "js"), { recursive: true });

  const result = sass.compile(join(root, "web", "assets", "main.scss"), {
    style: "compressed",
    sourceMap: false,
    importers: [new sass.NodePackageImporter(root)],
    // GOV.UK Frontend's own warnings are for the teams upgrading it, not for a build.
    quietDeps: true,
  });
  // A service not on GOV.UK must not ship GOV.UK's font or brand images: fail loudly
  // if a GOV.UK Frontend upgrade or a settings change brings them back.
  for (const needle of FORBIDDEN) {
    if (result.css.includes(needle)) {
      throw new Error(`compiled CSS references ${JSON.stringify(needle)}: check web/assets/main.scss`);
    }
  }
  const cssFile = join(out, "css", "framework-match.min.css");
  writeFileSync(cssFile, result.css + "\n");

  // The bundle ends with a sourceMappingURL comment; ship the map beside it so
  // browser developer tools do not log a 404.
  for (const name of ["govuk-frontend.min.js", "govuk-frontend.min.js.map"]) {
    copyFileSync(join(govukDist, name), join(out, "js", name));
  }

  const version = JSON.parse(readFileSync(join(govukDist, "..", "..", "package.json"), "utf8")).version;
  const kib = (readFileSync(cssFile).length / 1024).toFixed(0);
  console.log(`built ${relative(root, out)}/ (govuk-frontend ${version}, CSS ${kib} KiB)`);
}

build();
