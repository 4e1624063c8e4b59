/**
 * The CLI commands of file claims (advisory leases): `claim`, `release` and
 * `claims` (with `--check-staged`, what the git pre-commit hook runs). Paths
 * are resolved against the repository root of the working directory (see
 * `client/repo_paths.ts`).
 *
 * @module
 */

import { IpcError } from "../protocol/errors.ts";
import type { WireClaim } from "../protocol/messages.ts";
import { claimsOverlap } from "../protocol/globs.ts";
import { MAX_CLAIM_PATHS, MAX_CLAIM_REASON, MAX_CLAIM_TTL_MS } from "../protocol/validate.ts";
import { readSessionFile } from "../client/session_file.ts";
import { claimPaths, repoKey, repoRoot, stagedFiles } from "../client/repo_paths.ts";
import {
  type ClientCommand,
  COMMON_HELP,
  connectClient,
  connectWithSession,
  UsageError,
} from "./_common.ts";
import { usageLine } from "../command_table.ts";
import { quoted, visible } from "../protocol/peer_text.ts";
import { formatClaims, formatDuration, formatTime, plural } from "./format.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `--ttl` (`90s`, `30m`, `2h`, plain seconds) to ms, or throws a UsageError. */
export function ttlFlag(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  const ms = m ? Math.round(Number(m[1]) * UNITS[m[2] ?? "s"]) : NaN;
  if (!(ms >= 1000 && ms <= MAX_CLAIM_TTL_MS)) {
    throw new UsageError(
      `Invalid --ttl "${raw}": use a duration from 1s to 24h, like 90s, 30m, 2h`,
    );
  }
  return ms;
}

/** Glob characters in a real file name, escaped so it matches only itself. */
function literalPath(file: string): string {
  return file.replace(/[*?[\]{}\\]/g, "\\$&");
}

const CLAIM_FLAGS = {
  ttl: { type: "string" },
  shared: { type: "boolean" },
  reason: { type: "string" },
} as const;

/** `claim PATH_OR_GLOB...`. */
export const CLAIM: ClientCommand<typeof CLAIM_FLAGS> = {
  name: "claim",
  flags: CLAIM_FLAGS,
  positionals: { min: 1, max: MAX_CLAIM_PATHS, usage: "PATH_OR_GLOB..." },
  help: `${usageLine("claim")}

Tells the other agents you are editing these files (an advisory lease). Paths
are relative to the current directory and stored relative to the repository
root (git's top level, else the current directory), so agents in different
subfolders agree. Globs: * ? [a-z] {a,b} and ** (quote them for the shell);
a directory claims everything below it.

Exclusive by default: when any path overlaps another agent's claim, nothing
is claimed and the command names the holder, its reason and expiry (exit 1).
Claiming again renews your claim. Claims expire after --ttl and end when you
unregister.

Options:
  --ttl DURATION        how long the claim holds: 90s, 30m, 2h (default 30m, at most 24h)
  --shared              coexist with other shared claims (never with exclusive ones)
  --reason TEXT         why, shown to whoever runs into the claim
${COMMON_HELP}

Example:
  agent-ipc claim 'src/auth/**' README.md --ttl 1h --reason "auth refactor"
`,
  async run(ctx) {
    const ttlMs = ttlFlag(ctx.values.ttl);
    const reason = ctx.values.reason;
    if (reason !== undefined && reason.length > MAX_CLAIM_REASON) {
      throw new UsageError(`Invalid --reason: at most ${MAX_CLAIM_REASON} characters`);
    }
    const cwd = Deno.cwd();
    const root = await repoRoot(cwd);
    const paths = await claimPaths(root, cwd, ctx.positionals);
    const { client } = await connectWithSession(ctx.settings);
    await using _ = client;
    const claims = await client.claim(await repoKey(root), paths, {
      ttlMs,
      shared: ctx.values.shared === true,
      reason,
    });
    const until = claims[0] ? formatTime(claims[0].expires_at) : "";
    const lines = claims.map((c) => `  ${c.path}${c.shared ? " (shared)" : ""}\n`).join("");
    ctx.print(
      `Claimed ${plural(claims.length, "path")} in ${root} until ${until}:\n${lines}`,
      { root, claims },
    );
  },
};

const RELEASE_FLAGS = {} as const;

/** `release [PATH...]`. */
export const RELEASE: ClientCommand<typeof RELEASE_FLAGS> = {
  name: "release",
  flags: RELEASE_FLAGS,
  positionals: { min: 0, max: MAX_CLAIM_PATHS, usage: "[PATH...]" },
  help: `${usageLine("release")}

Releases your claims on these paths (written as you claimed them, relative to
the current directory). Without paths: every claim you hold, in every
repository.

${COMMON_HELP}

Example:
  agent-ipc release 'src/auth/**'
  agent-ipc release
`,
  async run(ctx) {
    let root: string | undefined;
    let paths: string[] | undefined;
    if (ctx.positionals.length > 0) {
      const cwd = Deno.cwd();
      root = await repoRoot(cwd);
      paths = await claimPaths(root, cwd, ctx.positionals);
    }
    const { client } = await connectWithSession(ctx.settings);
    await using _ = client;
    const key = root === undefined ? undefined : await repoKey(root);
    const released = await client.release(key, paths);
    // This repository's claims under its local path; others under their key.
    const lines = released.map((c) => `  ${c.root === key ? root : c.root}/${c.path}\n`).join("");
    ctx.print(
      released.length === 0
        ? "No claims released (you held none of these)\n"
        : `Released ${plural(released.length, "claim")}:\n${lines}`,
      { released },
    );
  },
};

const CLAIMS_FLAGS = {
  all: { type: "boolean" },
  "check-staged": { type: "boolean" },
  hook: { type: "boolean" },
} as const;

/** The exit status of `--check-staged --hook` on a conflict: deno's own failures exit 1. */
export const HOOK_CONFLICT_EXIT = 3;

/** `claims [--all] [--check-staged]`. */
export const CLAIMS: ClientCommand<typeof CLAIMS_FLAGS> = {
  name: "claims",
  flags: CLAIMS_FLAGS,
  positionals: { min: 0, max: 0, usage: "" },
  help: `${usageLine("claims")}

Lists the live file claims in this repository (--all: in every repository):
path, holder, exclusive or shared, time left, reason.

--check-staged checks the files staged for commit (git diff --cached) instead:
exit 1, naming them, when any is claimed by another agent; exit 0 otherwise.
It never blocks a commit for its own failure: without a session or a broker,
with a broker that does not answer, or on any other error it says so in one
line on stderr and exits 0. The pre-commit hook of "agent-ipc setup git-hook"
runs it with --hook: exit 3 on a conflict (deno's own failures exit 1, and
must not stop a commit), nothing printed when all is well.

Options:
  --all                 every repository's claims
  --check-staged        exit 1 when a staged file is claimed by another agent
  --hook                with --check-staged: exit 3 on a conflict, quiet otherwise
${COMMON_HELP}

Example:
  agent-ipc claims
  agent-ipc claims --check-staged || echo "someone else is editing these"
`,
  async run(ctx) {
    const cwd = Deno.cwd();
    if (ctx.values["check-staged"]) return await checkStaged(ctx, cwd, ctx.values.hook === true);
    if (ctx.values.hook) throw new UsageError("--hook goes with --check-staged");
    const root = ctx.values.all ? undefined : await repoRoot(cwd);
    const key = root === undefined ? undefined : await repoKey(root);
    const { client, session } = await connectWithSession(ctx.settings);
    await using _ = client;
    const claims = await client.claims(key);
    ctx.print(formatClaims(claims, { me: session.name, root: key }), {
      ...(root ? { root } : {}),
      claims,
    });
  },
};

/**
 * `--check-staged`: a commit hook's check. It fails open: only another
 * agent's live claim on a staged path gives a non-zero status.
 */
async function checkStaged(
  ctx: Parameters<typeof CLAIMS.run>[0],
  cwd: string,
  hook: boolean,
): Promise<number> {
  const skip = (why: string, doc: Record<string, unknown> = {}) => {
    const line = why.replace(/\s*[\r\n]+\s*/g, " ");
    ctx.io.stderr(`agent-ipc claims: ${line}: staged files not checked against claims\n`);
    ctx.print("", { ...doc, checked: false, conflicts: [] });
    return 0;
  };
  try {
    return await findConflicts(ctx, cwd, hook, skip);
  } catch (e) {
    return skip(e instanceof Error ? e.message : String(e));
  }
}

async function findConflicts(
  ctx: Parameters<typeof CLAIMS.run>[0],
  cwd: string,
  hook: boolean,
  skip: (why: string, doc?: Record<string, unknown>) => number,
): Promise<number> {
  const root = await repoRoot(cwd);
  const staged = await stagedFiles(root);
  const quiet = (human: string, doc: Record<string, unknown>) =>
    ctx.print(hook && !ctx.json ? "" : human, doc);
  if (staged.length === 0) {
    quiet("No staged files\n", { root, staged: 0, conflicts: [] });
    return 0;
  }
  const doc = { root, staged: staged.length };
  const session = await readSessionFile(ctx.settings.sessionFile);
  if (!session) return skip(`not registered (no session in "${ctx.settings.sessionFile}")`, doc);
  let claims: WireClaim[];
  try {
    // Never start a broker from a commit hook: no broker, nobody is holding anything live.
    await using client = await connectClient(ctx.settings, session, { role: "none" });
    if (!client.session) return skip(`the session of "${session.name}" is no longer valid`, doc);
    // Every claim of the root, matched here: a commit may stage more files than a request holds.
    claims = await client.claims(await repoKey(root));
  } catch (e) {
    if (e instanceof IpcError && e.code === "E_UNAVAILABLE") {
      return skip("no broker is running", doc);
    }
    throw e;
  }
  const me = ctx.io.env.IPC_INSTANCE || session.name;
  const literal = staged.map(literalPath);
  const others = claims.filter((c) =>
    c.holder !== me && literal.some((f) => claimsOverlap(c.path, f))
  );
  if (others.length === 0) {
    quiet(`${plural(staged.length, "staged file")}: none claimed by another agent\n`, {
      ...doc,
      conflicts: [],
    });
    return 0;
  }
  const now = Date.now();
  const files = staged.filter((f) => others.some((c) => claimsOverlap(c.path, literalPath(f))));
  const lines = files.map((f) => {
    const held = others.filter((c) => claimsOverlap(c.path, literalPath(f))).map((c) =>
      `${c.holder}${c.path === f ? "" : ` (as ${visible(c.path)})`}` +
      `${c.reason ? ` ${quoted(c.reason)}` : ""} for ${
        formatDuration((Date.parse(c.expires_at) - now) / 1000)
      }`
    );
    return `  ${visible(f)}: claimed by ${held.join(", ")}\n`;
  }).join("");
  if (ctx.json) ctx.print("", { ...doc, files, conflicts: others });
  ctx.io.stderr(
    `agent-ipc: staged files are claimed by another agent:\n${lines}` +
      `Ask the holder, wait for the claim to end, or commit with --no-verify.\n`,
  );
  return hook ? HOOK_CONFLICT_EXIT : 1;
}
