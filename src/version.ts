// Read from package.json so the version in events and --version cannot drift from the package.
// A static JSON import (not a runtime require) so `bun build --compile` embeds it in the single binary.
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
export const NAME: string = pkg.name;
