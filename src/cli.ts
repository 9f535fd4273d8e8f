#!/usr/bin/env node
// The executable: everything else is in program.ts, which tests import without running it.
import { main } from "./program.ts";

await main(process.argv);
