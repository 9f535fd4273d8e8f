import { createRequire } from "node:module";

// Read once from package.json so the version in events and --version cannot drift from the package.
// A compiled single binary embeds package.json through the same require().
const require = createRequire(import.meta.url);
const pkg = require("../package.json") as { version: string; name: string };

export const VERSION: string = pkg.version;
export const NAME: string = pkg.name;
