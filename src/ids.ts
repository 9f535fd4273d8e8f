import { randomFillSync } from "node:crypto";
import { v7 } from "uuid";

/**
 * UUIDv7 ids for connections and sessions, made from a pool of random bytes filled 4 KiB at a time:
 * the uuid package asks the system for 16 bytes per id (about 7 µs, an eighth of a refused connect's
 * whole cost in a flood). Ids stay ordered within a millisecond as the package orders them: the
 * counter starts from random bits in each new millisecond and counts up within it.
 */
const POOL = Buffer.alloc(4096);
let at = POOL.length;
let lastMs = -1;
let seq = 0;

export function newId(): string {
  if (at + 16 > POOL.length) {
    randomFillSync(POOL);
    at = 0;
  }
  const random = POOL.subarray(at, at + 16);
  at += 16;
  let msecs = Date.now();
  if (msecs > lastMs) {
    // 31 random bits: room to count up within the millisecond.
    seq = random.readUInt32BE(6) & 0x7fffffff;
    lastMs = msecs;
  } else {
    seq = (seq + 1) | 0;
    if (seq === 0) lastMs++;
    msecs = lastMs;
  }
  return v7({ random, msecs, seq });
}
