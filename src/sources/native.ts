/**
 * One way to load a native addon: once, remembering why it failed. The `load` function holds the
 * literal `require("….node")` (Bun has `require` in ES modules, and a literal path is what `bun build
 * --compile` embeds in the single binary; Node needs createRequire), so each addon's module keeps its
 * own. `check` may refuse an addon that loaded but does not fit (a stale build).
 */
export function nativeAddon<T>(
  load: () => unknown,
  check: (addon: T) => void = () => undefined,
): { get(): T | null; error(): string } {
  let addon: T | null | undefined;
  let loadError = "";
  return {
    get() {
      if (addon !== undefined) return addon;
      try {
        const a = load() as T;
        check(a);
        addon = a;
      } catch (err) {
        loadError = (err as Error).message.split("\n")[0] ?? "";
        addon = null;
      }
      return addon;
    },
    error: () => loadError,
  };
}
