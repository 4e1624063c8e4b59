import assert from "node:assert/strict";
import { isShortId, shortId, shortIdRange } from "../../lib/protocol/short_id.ts";

// Short ids are shown, stored by users in notes and resolved by brokers of
// other versions: the function may get faster, never different. These were
// computed by the first implementation (RegExp + parseInt).
const PINNED: [string, string][] = [
  ["mwqgzdmn-k3x9a0q000001", "g38n9sf"],
  ["0-x", "00000yb"],
  ["zzzzzzzzzzzz-1", "7p8phz3"], // 12 digits of time: past exact float sums
  ["abcdefghijk-2", "8wg0hvb"],
  ["hello", "8h5t6ek"], // no time: hashed digits only
  ["-abc", "nc3wssa"],
  ["Mwq-1", "g2yv4sa"], // upper case is not a time
  ["legacy-uuid-1234", "17fqg1e"],
  ["9f1c2d3e-4b5a-6789-abcd-ef0123456789", "zt8tqf0"],
  ["", "h2cxzb0"],
];

Deno.test("shortId gives the same 7 digits it always gave", () => {
  for (const [id, short] of PINNED) {
    assert.equal(shortId(id), short, id);
    assert.ok(isShortId(short), short);
  }
});

Deno.test("shortIdRange holds the id a short id was made from", () => {
  const now = Date.UTC(2026, 11, 3, 9, 30);
  for (const ms of [now, now - 1, now - 999, now - 86_400_000 * 300]) {
    const id = `${ms.toString(36)}-abcdefg000001`;
    const { from, to } = shortIdRange(shortId(id), now);
    assert.ok(from <= id && id < to, `${id} in [${from}, ${to})`);
  }
});

Deno.test("isShortId refuses full ids and misreadable digits", () => {
  for (const bad of ["mwqgzdmn-k3x9a0q000001", "g38n9s", "g38n9sfx", "g38n9sl", "G38N9SF"]) {
    assert.equal(isShortId(bad), false, bad);
  }
});
