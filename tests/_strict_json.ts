/**
 * A strict JSON parser for tests: what an assistant written in Rust (Codex,
 * serde_json) accepts. `JSON.parse` takes an escaped lone surrogate
 * (`"\ud83d"`) without complaint; serde_json refuses the whole document.
 *
 * @module
 */

/** Parses `text` as JSON and throws when any string in it holds a lone surrogate. */
export function parseStrictJson(text: string): unknown {
  const value = JSON.parse(text);
  const walk = (v: unknown, at: string): void => {
    if (typeof v === "string") {
      if (!v.isWellFormed()) {
        throw new SyntaxError(
          `Lone surrogate in the JSON string at ${at}: …${JSON.stringify(v).slice(-200)}`,
        );
      }
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`));
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        walk(k, `${at} (key)`);
        walk(x, `${at}.${k}`);
      }
    }
  };
  walk(value, "$");
  return value;
}
