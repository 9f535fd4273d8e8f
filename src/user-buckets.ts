/**
 * A token bucket per user (uid): `rate` a second, up to `burst` at once. What the flood gate writes one
 * by one and how often the session watch searches for a master are each budgeted this way, so that
 * one user's loop spends only its own budget. Bounded: past `maxUsers` buckets, the idle ones (full
 * again) are forgotten; an idle bucket and a new one are the same.
 */
export class UserBuckets {
  private readonly buckets = new Map<number, { tokens: number; lastNs: bigint }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly maxUsers = 65_536,
  ) {}

  /** Takes one token from `uid`'s bucket at `nowNs`; false when it is empty. */
  take(uid: number, nowNs: bigint): boolean {
    let b = this.buckets.get(uid);
    if (!b) {
      if (this.buckets.size >= this.maxUsers) this.forgetIdle(nowNs);
      b = { tokens: this.burst, lastNs: nowNs };
      this.buckets.set(uid, b);
    }
    if (nowNs > b.lastNs) {
      b.tokens = Math.min(this.burst, b.tokens + (Number(nowNs - b.lastNs) / 1e9) * this.rate);
      b.lastNs = nowNs;
    }
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  private forgetIdle(nowNs: bigint): void {
    for (const [uid, b] of this.buckets) {
      if (b.tokens + (Number(nowNs - b.lastNs) / 1e9) * this.rate >= this.burst) this.buckets.delete(uid);
    }
    // Every user active at once: start afresh rather than grow (each gets a full bucket again).
    if (this.buckets.size >= this.maxUsers) this.buckets.clear();
  }
}
