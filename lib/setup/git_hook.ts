/**
 * `setup git-hook`: installs (or removes) a git pre-commit hook in the
 * current repository that runs `agent-ipc claims --check-staged`, so a commit
 * of files another agent has claimed stops with their names. An existing
 * hook is merged with, never replaced: our block, between marker lines, goes
 * right after its `#!` line; a hook in another language is left alone with
 * instructions. The hook honours `core.hooksPath` (husky and the like).
 *
 * The block never stops a commit it has no reason to stop: only the check's
 * exit status 3 (another agent holds a staged path, `--hook` mode) does.
 * Anything else (no broker, no session, a frozen broker, a bad stored claim,
 * a deleted checkout or a missing deno, whose own failures exit 1 or 127)
 * prints one warning line and lets the commit through. It is written for
 * `set -eu` hooks (no unset variable, no failing command outside a test),
 * and leaves status 0 behind when it is the hook's last statement.
 *
 * @module
 */

import { shellWord } from "../self_command.ts";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { git } from "../git.ts";
import { readConfigFile, writeConfigFile } from "./config_file.ts";
import { resolveLaunch } from "./server_entry.ts";
import { unifiedDiff } from "./unified_diff.ts";

/** What `setup git-hook` reads from and writes to (a subset of `SetupIo`). */
export interface GitHookIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  os: typeof Deno.build.os;
  cwd: string;
  program?: { standalone: boolean; execPath: string; mainModule: string };
}

const BEGIN = "# >>> agent-ipc: file claims check (agent-ipc setup git-hook) >>>";
const END = "# <<< agent-ipc: file claims check <<<";
/** In our block when we wrote the `#!/bin/sh` line above it (the hook had none). */
const OWN_SHEBANG = "# (agent-ipc added the #!/bin/sh line above: the hook had none)";
const SHELLS = /^#!\s*(\/usr)?\/bin\/(env\s+)?(sh|bash|dash|zsh|ksh)\b/;

/** How a pre-commit hook changes. `text: null` deletes the file. */
export type HookEdit =
  | { outcome: "added" | "updated" | "removed"; text: string | null }
  | { outcome: "unchanged" | "absent" }
  | { outcome: "foreign"; why: string };

/**
 * The block our hook adds, running `command` (already shell-quoted words).
 * `ownShebang`: we also wrote the `#!/bin/sh` line before it.
 */
export function hookBlock(command: string, ownShebang = false): string {
  return `${BEGIN}
${
    ownShebang
      ? `${OWN_SHEBANG}\n`
      : ""
  }# Stops the commit only when a staged file is claimed by another agent (the
# check's exit 3). Anything else (no broker, no session, a missing agent-ipc
# or deno) prints one warning line and lets the commit through.
# AGENT_IPC_SKIP_CLAIMS=1 (or git commit --no-verify) skips the check.
if [ -z "\${AGENT_IPC_SKIP_CLAIMS:-}" ]; then
  agent_ipc_status=0
  agent_ipc_out=$(${command} claims --check-staged --hook 2>&1) || agent_ipc_status=$?
  if [ "$agent_ipc_status" -eq 3 ]; then
    printf '%s\\n' "$agent_ipc_out" >&2
    exit 1
  elif [ "$agent_ipc_status" -ne 0 ]; then
    printf 'agent-ipc: staged files not checked against claims (exit %s: %s)\\n' \\
      "$agent_ipc_status" "$(printf '%s\\n' "$agent_ipc_out" | head -n 1)" >&2
  elif [ -n "$agent_ipc_out" ]; then
    printf '%s\\n' "$agent_ipc_out" >&2
  fi
  unset agent_ipc_status agent_ipc_out
fi
${END}
`;
}

/** `text` without our block; `ownShebang` when the block says we wrote the `#!` line too. */
function stripBlock(text: string): { rest: string; found: boolean; ownShebang: boolean } {
  const start = text.indexOf(BEGIN);
  if (start < 0) return { rest: text, found: false, ownShebang: false };
  const endAt = text.indexOf(END, start);
  const stop = endAt < 0 ? text.length : endAt + END.length;
  const after = text[stop] === "\n" ? stop + 1 : stop;
  const ownShebang = text.slice(start, stop).includes(OWN_SHEBANG) &&
    text.slice(0, start) === "#!/bin/sh\n";
  const head = ownShebang ? "" : text.slice(0, start);
  return { rest: head + text.slice(after), found: true, ownShebang };
}

/**
 * The new content of a pre-commit hook (`text`: undefined when there is
 * none) with our block installed for `command`, or removed. Pure.
 *
 * @example
 * ```ts
 * editPreCommit(undefined, "agent-ipc", false); // { outcome: "added", text: "#!/bin/sh\n…" }
 * ```
 */
export function editPreCommit(
  text: string | undefined,
  command: string,
  remove: boolean,
): HookEdit {
  if (remove) {
    if (text === undefined) return { outcome: "absent" };
    const { rest, found } = stripBlock(text);
    if (!found) return { outcome: "absent" };
    // A hook that was only ours goes away entirely.
    const empty = rest.replace(/^#![^\n]*\n?/, "").trim() === "";
    return { outcome: "removed", text: empty ? null : rest };
  }
  if (text === undefined || text.trim() === "") {
    return { outcome: "added", text: `#!/bin/sh\n${hookBlock(command)}` };
  }
  const { rest, found, ownShebang } = stripBlock(text);
  if (found) {
    const block = hookBlock(command, ownShebang);
    const first = ownShebang ? 0 : text.indexOf(BEGIN);
    const next = rest.slice(0, first) + (ownShebang ? "#!/bin/sh\n" : "") + block +
      rest.slice(first);
    return next === text ? { outcome: "unchanged" } : { outcome: "updated", text: next };
  }
  const block = hookBlock(command);
  const firstLine = text.split("\n", 1)[0];
  if (firstLine.startsWith("#!")) {
    if (!SHELLS.test(firstLine)) {
      return { outcome: "foreign", why: `it is not a shell script (${firstLine})` };
    }
    const nl = text.indexOf("\n");
    const head = nl < 0 ? text + "\n" : text.slice(0, nl + 1);
    const tail = nl < 0 ? "" : text.slice(nl + 1);
    return { outcome: "added", text: head + block + tail };
  }
  // No `#!` line (git runs it with sh): ours goes first, and says so, so --remove takes it too.
  return { outcome: "added", text: `#!/bin/sh\n${hookBlock(command, true)}${text}` };
}

const HELP = `Usage: agent-ipc setup git-hook [--remove] [--dry-run]

Installs a git pre-commit hook in the current repository that runs
"agent-ipc claims --check-staged": a commit stops, naming the files and their
holders, when a staged file is claimed by another agent. An existing
pre-commit hook is kept (a copy goes to pre-commit.bak) and the check is
added at its top; core.hooksPath (husky, ...) is honoured. Running it again
changes nothing.

Options:
  --remove       take the check out again (a hook that held only it is deleted)
  --dry-run      show the change as a diff and write nothing
  -h, --help     show this help

Skip it once with "git commit --no-verify" or AGENT_IPC_SKIP_CLAIMS=1.
Exit codes: 0 done or nothing to do, 1 not a git repository or a hook it will
not edit, 2 usage error.
`;

/** Runs `setup git-hook` with the arguments after `git-hook`; returns the exit code. */
export async function runGitHookSetup(args: string[], io: GitHookIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        remove: { type: "boolean", default: false },
        "dry-run": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (e) {
    io.stderr(
      `agent-ipc setup git-hook: ${(e as Error).message.split(". ")[0]}\n` +
        `Run "agent-ipc setup git-hook --help" for usage.\n`,
    );
    return 2;
  }
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  const top = (await git(io.cwd, ["rev-parse", "--show-toplevel"]))?.trim() ?? null;
  const hooks = top === null
    ? null
    : (await git(top, ["rev-parse", "--git-path", "hooks"]))?.trim() ?? null;
  if (top === null || hooks === null) {
    io.stderr(`agent-ipc setup git-hook: "${io.cwd}" is not in a git repository\n`);
    return 1;
  }
  const path = resolve(top, hooks, "pre-commit");
  const program = io.program ?? {
    standalone: Deno.build.standalone,
    execPath: Deno.execPath(),
    mainModule: Deno.mainModule,
  };
  const launch = await resolveLaunch({ os: io.os, env: io.env, ...program });
  const words = [launch.command, ...launch.args.slice(0, -1)]; // without the trailing "mcp"
  const file = await readConfigFile(path);
  const edit = editPreCommit(file.text, words.map(shellWord).join(" "), values.remove);
  switch (edit.outcome) {
    case "unchanged":
      io.stdout(`git pre-commit hook: already checks file claims (${path})\n`);
      return 0;
    case "absent":
      io.stdout(`git pre-commit hook: no file claims check in ${path}\n`);
      return 0;
    case "foreign":
      io.stderr(
        `agent-ipc setup git-hook: not changing ${path}: ${edit.why}. Add this to it by hand:\n` +
          `  ${words.map(shellWord).join(" ")} claims --check-staged (exit 1: stop the commit)\n`,
      );
      return 1;
  }
  const verb = { added: "add", updated: "update", removed: "remove" }[edit.outcome];
  if (values["dry-run"]) {
    io.stdout(`git pre-commit hook: would ${verb} the file claims check in ${path} (dry run)\n`);
    io.stdout(
      unifiedDiff(
        file.text ?? "",
        edit.text ?? "",
        file.text === undefined ? "/dev/null" : `${path} (now)`,
        edit.text === null ? "/dev/null" : `${path} (after setup)`,
      ),
    );
    return 0;
  }
  let backup: string | undefined;
  if (edit.text === null) {
    backup = `${path}.bak`;
    await Deno.copyFile(file.realPath, backup);
    await Deno.remove(file.realPath);
  } else {
    backup = await writeConfigFile(file, edit.text, true);
    if (file.mode === null && io.os !== "windows") await Deno.chmod(file.realPath, 0o755);
  }
  const saved = backup ? ` (backup: ${backup})` : "";
  io.stdout(
    `git pre-commit hook: ${verb === "add" ? "added" : `${verb}d`} the file claims check ` +
      `${edit.outcome === "removed" ? "from" : "in"} ${path}${saved}\n`,
  );
  return 0;
}
