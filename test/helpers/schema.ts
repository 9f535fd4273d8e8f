import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

// ajv and ajv-formats are CommonJS with their export on `default`: require() keeps the types plain.
const require = createRequire(import.meta.url);
const Ajv2020: typeof import("ajv/dist/2020.js").default = require("ajv/dist/2020").default;
const addFormats: typeof import("ajv-formats").default = require("ajv-formats").default;

const schema = JSON.parse(readFileSync(new URL("../../schema/event.schema.json", import.meta.url), "utf8"));
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(schema);

/** Throws with every schema violation when `event` does not match schema/event.schema.json. */
export function assertValidEvent(event: unknown): void {
  if (!validate(event)) {
    throw new Error(
      `event does not match the schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(event)}`,
    );
  }
}
