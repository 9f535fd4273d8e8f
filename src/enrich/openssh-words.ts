import { readFileSync } from "node:fs";

/**
 * How OpenSSH reads the words of an option, so that our reading of a command line agrees with the
 * client's own (misc.c argv_split, strdelim, a2port; readconf.c process_config_line).
 */

/**
 * `Key=Value`, `Key Value`, `Key = Value` → the lower-cased key and the rest (strdelim splits at
 * whitespace or one `=`). Undefined for an empty line or a comment.
 */
export function splitOptionLine(line: string): { key: string; rest: string } | undefined {
  const m = /^[ \t]*([^ \t=]*)[ \t]*(?:=[ \t]*)?(.*)$/s.exec(line);
  const key = m?.[1] ?? "";
  if (key === "" || key.startsWith("#")) return undefined;
  return { key: key.toLowerCase(), rest: trimEndBlanks(m?.[2] ?? "") };
}

/**
 * Trailing blanks off, by a scan from the end: the regex /[ \t]+$/ is quadratic in a long run of
 * blanks that does not end the string (each start of the run is tried to its end), and the string
 * comes from an argv chosen by whoever runs the client.
 */
function trimEndBlanks(s: string): string {
  let end = s.length;
  while (end > 0 && " \t\r\n\f".includes(s[end - 1] as string)) end--;
  return s.slice(0, end);
}

/**
 * The words of an option's value as argv_split makes them: split at whitespace, single and double
 * quotes grouping (and removed), a backslash escaping a quote, a backslash or (outside quotes) a
 * space, and `#` at the start of a word ending the line. Undefined for unbalanced quotes, which
 * OpenSSH rejects.
 */
export function splitWords(s: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && /[ \t\r\n]/.test(s[i] as string)) i++;
    if (i >= s.length) break;
    if (s[i] === "#") break;
    let word = "";
    let quote = "";
    for (; i < s.length; i++) {
      const c = s[i] as string;
      if (quote === "" && /[ \t\r\n]/.test(c)) break;
      if (c === "\\") {
        const n = s[i + 1];
        if (n === "'" || n === '"' || n === "\\" || (quote === "" && n === " ")) {
          word += n;
          i++;
        } else word += c;
      } else if (quote === "" && (c === "'" || c === '"')) quote = c;
      else if (quote !== "" && c === quote) quote = "";
      else word += c;
    }
    if (quote !== "") return undefined;
    out.push(word);
  }
  return out;
}

let services: Map<string, number> | undefined;

/** TCP service names from /etc/services, as getservbyname(3) would give them. */
function service(name: string): number | undefined {
  if (!services) {
    services = new Map();
    let text = "";
    try {
      text = readFileSync("/etc/services", "utf8");
    } catch {
      // no services file: names are not ports
    }
    for (const line of text.split("\n")) {
      const [words] = line.split("#");
      const f = (words ?? "").trim().split(/\s+/);
      const m = /^(\d+)\/tcp$/.exec(f[1] ?? "");
      if (!m) continue;
      for (const n of [f[0], ...f.slice(2)]) if (n && !services.has(n)) services.set(n, Number(m[1]));
    }
  }
  return services.get(name);
}

/**
 * a2port: a decimal number (strtonum: leading blanks and one sign allowed, nothing after) from 1 to
 * 65535, or a TCP service name; undefined otherwise (ssh rejects the option).
 */
export function a2port(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  if (/^[ \t\n\v\f\r]*[+-]?\d+$/.test(s)) {
    const n = Number(s.trim());
    return n >= 1 && n <= 65535 ? n : undefined;
  }
  const p = service(s);
  return p !== undefined && p >= 1 ? p : undefined;
}
