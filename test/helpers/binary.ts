import { execFileSync } from "node:child_process";
import { ROOT } from "./daemon.ts";

export const BINARY = `${ROOT}dist/bin/ssh-outbound-logger`;

/** `npm run build:binary`: the single executable from the current source (bun build --compile). */
export function buildBinary(): string {
  execFileSync("npm", ["run", "--silent", "build:binary"], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "pipe"],
  });
  return BINARY;
}
