import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { blueprintJson, buildBlueprint } from "./blueprint.js";

// `npm run build:contracts`: rewrites contracts/plutus.json from the plu-ts source.
const target = fileURLToPath(new URL("./plutus.json", import.meta.url));
writeFileSync(target, blueprintJson());
for (const validator of buildBlueprint().validators) {
  console.log(`wrote ${target}: ${validator.title} ${validator.compiledCode.length / 2} bytes, unapplied hash ${validator.hash}`);
}
