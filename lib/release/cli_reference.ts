/**
 * `deno task docs`: rewrites the command table of docs/cli.md from
 * {@linkcode referenceTable} (lib/command_table.ts), between its two marker
 * comments, then formats the file with `deno fmt`. `--check` only reports
 * whether the file is current (exit 1 when not).
 *
 * @module
 */

import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { referenceTable } from "../command_table.ts";

/** The comments around the generated table in docs/cli.md. */
export const TABLE_START = "<!-- command table: from lib/command_table.ts by `deno task docs` -->";
export const TABLE_END = "<!-- end of command table -->";

/** `text` (docs/cli.md) with its command table replaced by `table`. */
export function withTable(text: string, table: string): string {
  const start = text.indexOf(TABLE_START);
  const end = text.indexOf(TABLE_END);
  if (start < 0 || end < start) {
    throw new Error(`docs/cli.md lacks the markers ${TABLE_START} ... ${TABLE_END}`);
  }
  return text.slice(0, start + TABLE_START.length) + "\n\n" + table + "\n" + text.slice(end);
}

if (import.meta.main) {
  const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));
  const path = join(root, "docs", "cli.md");
  const text = withTable(await Deno.readTextFile(path), referenceTable());
  await Deno.writeTextFile(path, text);
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", path] }).output();
  Deno.exit(fmt.code);
}
