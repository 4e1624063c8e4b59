/**
 * The `setup` command: registers agent-ipc as an MCP server ("agent-ipc") in
 * the configs of Claude Code, Gemini CLI, Codex, Cursor and Windsurf, or takes
 * it out again. It merges with what is there, does nothing when the entry is
 * already right, backs a file up before changing it, and with `--dry-run`
 * shows a diff and writes nothing. A testable function: `main.ts` passes the
 * arguments and the environment in and exits with the returned code.
 *
 * @module
 */

import { posix, win32 } from "node:path";
import { parseArgs } from "node:util";
import { IpcError } from "../protocol/errors.ts";
import {
  type ConfigFile,
  deleteConfigFile,
  readConfigFile,
  writeConfigFile,
} from "./config_file.ts";
import { asMalformed, type ConfigEdit, isSetupSkeleton } from "./config_edit.ts";
import {
  CLAUDE_PERMISSION,
  CODEX_ENV_VARS,
  codexTrustOf,
  editClaudePermission,
  editCodexTrust,
  editGeminiWakeSettings,
  editHooks,
  GEMINI_POLICY_MARK,
  geminiCreatedOf,
  geminiPolicyPath,
  geminiWaiterPolicy,
  geminiWakeCreated,
  hookPlan,
  hooksPath,
  removeGeminiWakeSettings,
  waiterCommand,
} from "./hooks.ts";
import { editJsonConfig } from "./json_config.ts";
import {
  hookSettingsArgs,
  type RememberedSettings,
  rememberedSettings,
  SETTING_FLAGS,
  SETTING_FLAGS_HELP,
  settingsEnv,
} from "./remembered_settings.ts";
import {
  buildEntry,
  type McpServerEntry,
  resolveLaunch,
  SERVER_KEY,
  type ServerLaunch,
} from "./server_entry.ts";
import {
  isTargetId,
  resolveTarget,
  TARGET_IDS,
  TARGET_LABELS,
  type TargetConfig,
  type TargetContext,
  type TargetId,
  WSL_NOTE,
} from "./targets.ts";
import { editTomlConfig } from "./toml_config.ts";
import { unifiedDiff } from "./unified_diff.ts";
import { didYouMean, parseErrorMessage } from "../suggest.ts";

/** What `setup` reads from and writes to; `main.ts` fills it from `Deno`. */
export interface SetupIo {
  /** Receives output as is (newlines included). */
  stdout: (s: string) => void;
  /** Receives errors and notes as is (newlines included). */
  stderr: (s: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  home: string;
  os: typeof Deno.build.os;
  isWsl: boolean;
  cwd: string;
  /**
   * How this program runs, to pick the server command; defaults to
   * `Deno.build.standalone`, `Deno.execPath()` and `Deno.mainModule`.
   */
  program?: { standalone: boolean; execPath: string; mainModule: string };
}

const USAGE = "Usage: agent-ipc setup <claude|gemini|codex|cursor|windsurf|all>... " +
  "[--name NAME] [--project DIR] [--ask] [--no-hooks] [--notify] [--remove] [--dry-run]\n" +
  "       [--port PORT] [--data-dir DIR] [--store URL] [--secret-file FILE] [--tls-* FILE]...\n" +
  "       agent-ipc setup git-hook [--remove] [--dry-run]   (file claims pre-commit check)\n";

/**
 * Runs `setup` with the arguments after the word `setup`. Returns the exit
 * code: 0 done (or nothing to do), 1 a config could not be changed (the
 * others are still done), 2 usage error.
 *
 * The steps: read the arguments ({@link parseSetupArgs}), find the config
 * files ({@link resolveTargets}), choose the server command
 * ({@link chooseLaunch}), edit each file ({@link applyToTarget}), and sum up.
 *
 * @example
 * ```ts
 * const code = await runSetup(["claude", "--name", "fred"], {
 *   stdout: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)),
 *   stderr: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)),
 *   env: Deno.env.toObject(), home: Deno.env.get("HOME") ?? "", os: Deno.build.os,
 *   isWsl: false, cwd: Deno.cwd(),
 * });
 * ```
 */
export async function runSetup(args: string[], io: SetupIo): Promise<number> {
  if (args[0] === "git-hook") {
    const { runGitHookSetup } = await import("./git_hook.ts");
    return await runGitHookSetup(args.slice(1), io);
  }
  const request = await parseSetupArgs(args, io);
  if (typeof request === "number") return request;
  const targets = resolveTargets(request, io);
  if (typeof targets === "number") return targets;
  const launch = request.remove ? undefined : await chooseLaunch(request, targets, io);
  const run: SetupRun = {
    failed: false,
    done: 0,
    changed: 0,
    backedUp: new Set(),
    backups: new Map(),
    pending: new Map(),
  };
  for (const target of targets) {
    if (request.all && request.project === undefined && !(await anyExists(target.markers))) {
      io.stdout(`${target.label}: skipped (not found: ${target.markers.join(" or ")})\n`);
      continue;
    }
    run.done++;
    if (!request.dryRun && !await appliesCleanly(target, request, launch, run, io)) continue;
    await applyToTarget(target, request, launch, run, io);
    if (request.hooks || request.remove) await applyHooks(target, request, launch, run, io);
  }
  return summarize(request, run, io);
}

/**
 * All or nothing per assistant: every edit of `target` is first made as a
 * dry run that writes nothing and says nothing. When one of its files cannot
 * be edited (an invalid `~/.claude.json`, a `hooks` that is not an object),
 * the errors are reported, the run fails, and none of its files is touched
 * (setup used to refuse `~/.claude.json` and still write hooks and the
 * permission into `settings.json`).
 */
async function appliesCleanly(
  target: TargetConfig,
  request: SetupRequest,
  launch: ServerLaunch | undefined,
  run: SetupRun,
  io: SetupIo,
): Promise<boolean> {
  const errors: string[] = [];
  const quiet: SetupIo = { ...io, stdout: () => {}, stderr: (s) => void errors.push(s) };
  const trial: SetupRun = {
    ...run,
    failed: false,
    backedUp: new Set(),
    backups: new Map(),
    pending: new Map(),
  };
  const dry = { ...request, dryRun: true };
  await applyToTarget(target, dry, launch, trial, quiet);
  if (request.hooks || request.remove) await applyHooks(target, dry, launch, trial, quiet);
  if (!trial.failed) return true;
  run.failed = true;
  for (const e of errors) io.stderr(e);
  io.stderr(
    `agent-ipc setup: ${target.label}: nothing changed (setup is all or nothing per assistant)\n`,
  );
  return false;
}

/** What the arguments ask for. */
interface SetupRequest {
  ids: TargetId[];
  /** `all` was named: assistants not found are skipped, not errors. */
  all: boolean;
  name: string | undefined;
  /** The resolved `--project` directory. */
  project: string | undefined;
  remove: boolean;
  dryRun: boolean;
  /** `--ask`: keep the assistants' prompts before each agent-ipc tool call. */
  ask: boolean;
  /** Install the hooks (not `--no-hooks`). */
  hooks: boolean;
  /** `--notify`: where no wake exists, a bell and a desktop notification. */
  notify: boolean;
  /** `--wake`: Gemini CLI's background waiter (two settings, a policy rule, the instruction). */
  wake: boolean;
  /** The non-default settings to write into every entry and hook. */
  settings: RememberedSettings;
}

/**
 * The name an assistant's server registers as: `--name` for one assistant,
 * `NAME-<assistant>` for several (two assistants must not share a name), and
 * the assistant's own id without `--name`.
 */
export function nameFor(request: Pick<SetupRequest, "name" | "ids">, id: TargetId): string {
  if (request.name === undefined) return id;
  return request.ids.length > 1 ? `${request.name}-${id}` : request.name;
}

/** What happened so far, across targets. */
interface SetupRun {
  failed: boolean;
  /** Targets attempted (found, or named). */
  done: number;
  /** Files written. */
  changed: number;
  /** Real paths already backed up in this run (a file shared by two targets is backed up once). */
  backedUp: Set<string>;
  /** The `.bak` this run wrote, by real path (taken back with a file it deletes). */
  backups: Map<string, string>;
  /** With --dry-run: the text each file would have so far (a later step edits on top of it). */
  pending: Map<string, string>;
}

/** Step 1: the arguments as a request, or the exit code (help printed: 0; usage error: 2). */
async function parseSetupArgs(args: string[], io: SetupIo): Promise<SetupRequest | number> {
  let parsed;
  const options = {
    name: { type: "string" },
    project: { type: "string" },
    remove: { type: "boolean", default: false },
    "dry-run": { type: "boolean", default: false },
    ask: { type: "boolean", default: false },
    "no-hooks": { type: "boolean", default: false },
    notify: { type: "boolean", default: false },
    wake: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
    ...SETTING_FLAGS,
  } as const;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options,
    });
  } catch (error) {
    return usageError(io, parseErrorMessage(error, options).split(". ")[0]);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(helpText(io));
    return 0;
  }
  if (positionals.length === 0) return usageError(io, "Name an assistant, or all");
  const unknown = positionals.find((p) => p !== "all" && !isTargetId(p));
  if (unknown !== undefined) {
    const near = didYouMean(unknown, [...TARGET_IDS, "all"]).replace(/^ \((.*)\)$/, "$1 ");
    return usageError(
      io,
      `Unknown assistant "${unknown}" (${near}known: ${TARGET_IDS.join(", ")}, all)`,
    );
  }
  const all = positionals.includes("all");
  const ids = all ? [...TARGET_IDS] : [...new Set(positionals as TargetId[])];
  const name = values.name;
  if (name !== undefined && !/^[^\s-][^\s]*$/.test(name)) {
    return usageError(io, `Invalid --name "${name}": it must be one word, not starting with "-"`);
  }
  let project: string | undefined;
  if (values.project !== undefined) {
    project = pathFor(io).resolve(io.cwd, values.project);
    if (!(await isDirectory(project))) {
      return usageError(io, `--project "${values.project}" is not a directory`);
    }
  }
  let settings: RememberedSettings;
  try {
    settings = rememberedSettings(io.env, values, io.cwd, io.os);
  } catch (error) {
    return usageError(io, (error as Error).message);
  }
  return {
    settings,
    ids,
    all,
    name,
    project,
    remove: values.remove,
    dryRun: values["dry-run"],
    ask: values.ask,
    hooks: !values["no-hooks"],
    notify: values.notify,
    wake: values.wake,
  };
}

/**
 * Step 2: the config file of each named assistant, or the exit code (no home
 * directory: 1; an assistant without a project config named with --project: 2).
 */
function resolveTargets(request: SetupRequest, io: SetupIo): TargetConfig[] | number {
  const home = io.os === "windows" ? io.env.USERPROFILE || io.home : io.home;
  if (!pathFor(io).isAbsolute(home)) {
    const variable = io.os === "windows" ? "USERPROFILE" : "HOME";
    io.stderr(`agent-ipc setup: cannot find the home directory (set ${variable})\n`);
    return 1;
  }
  const ctx: TargetContext = {
    os: io.os,
    isWsl: io.isWsl,
    home: io.home,
    env: io.env,
    project: request.project,
  };
  const targets: TargetConfig[] = [];
  for (const id of request.ids) {
    const target = resolveTarget(id, ctx);
    if (typeof target !== "string") {
      targets.push(target);
    } else if (request.all) {
      io.stdout(`${TARGET_LABELS[id]}: skipped (no project-level config)\n`);
    } else {
      return usageError(io, target);
    }
  }
  return targets;
}

/**
 * Step 3: the command the assistants will run, their names and the settings
 * written with it, printed so the user sees them.
 */
async function chooseLaunch(
  request: SetupRequest,
  targets: TargetConfig[],
  io: SetupIo,
): Promise<ServerLaunch> {
  const program = io.program ?? {
    standalone: Deno.build.standalone,
    execPath: Deno.execPath(),
    mainModule: Deno.mainModule,
  };
  const launch = await resolveLaunch({ os: io.os, env: io.env, ...program });
  const names = targets.map((t) => nameFor(request, t.id));
  const one = new Set(names).size === 1;
  const shown = [launch.command, ...launch.args, "--name", one ? names[0] : "NAME"];
  io.stdout(`MCP server command: ${shown.map(quoteArg).join(" ")}\n`);
  if (!one || request.name === undefined) {
    const list = targets.map((t) => `${t.label} "${nameFor(request, t.id)}"`).join(", ");
    const why = request.name === undefined
      ? "each assistant's own name (--name NAME: NAME, or NAME-<assistant> for several)"
      : `--name ${request.name} with the assistant's name, so no two share one`;
    io.stdout(`Names: ${list} (${why})\n`);
  }
  const { settings, warnings } = request.settings;
  if (settings.length > 0) {
    io.stdout(
      `Settings written into each MCP entry (env) and hook (flags): ` +
        `${settings.map((s) => `${s.env}=${quoteArg(s.value)}`).join(" ")}\n`,
    );
  } else {
    io.stdout(
      "Settings: the defaults (no IPC_PORT, IPC_DATA_DIR ... set; --port and the like write them)\n",
    );
  }
  for (const warning of warnings) io.stdout(`  warning: ${warning}\n`);
  return launch;
}

/**
 * Step 4, for one assistant: edit its config file (or show the diff with
 * --dry-run) and report; a failure is reported and recorded, and the other
 * targets go on.
 */
async function applyToTarget(
  target: TargetConfig,
  request: SetupRequest,
  launch: ServerLaunch | undefined,
  run: SetupRun,
  io: SetupIo,
): Promise<void> {
  try {
    const file = await readConfigFile(target.path);
    const edit = editConfig(
      target,
      file.text,
      launch && withApprovals(
        buildEntry(
          launch,
          nameFor(request, target.id),
          target.withType,
          settingsEnv(request.settings),
        ),
        target,
        request,
      ),
    );
    const where = target.path;
    if (launch && !request.ask && target.id === "gemini") {
      io.stdout(
        `${target.label}: trusts the agent-ipc server ("trust": true): its tools run without a prompt (--ask keeps the prompts)\n`,
      );
    }
    if (launch && target.id === "codex") {
      io.stdout(
        `${target.label}: env_vars passes ${CODEX_ENV_VARS.join(", ")} to the server` +
          (request.ask
            ? "\n"
            : `; default_tools_approval_mode = "approve": its tools run without a prompt (--ask keeps the prompts)\n`),
      );
    }
    if (edit.outcome === "unchanged") {
      io.stdout(`${target.label}: already configured in ${where}\n`);
    } else if (edit.outcome === "absent") {
      io.stdout(`${target.label}: ${SERVER_KEY} is not configured in ${where}\n`);
    } else if (request.dryRun) {
      io.stdout(`${target.label}: ${verb(edit, true)} ${where} (dry run, nothing written)\n`);
      const from = file.text === undefined ? "/dev/null" : `${where} (now)`;
      io.stdout(unifiedDiff(file.text ?? "", edit.text, from, `${where} (after setup)`));
      run.pending.set(where, edit.text);
      if (request.remove && wouldDelete(file, edit.text)) {
        io.stdout(`${target.label}: would delete ${where} (setup created it)\n`);
      }
    } else if (request.remove && await deleteIfSkeleton(file, edit.text, run)) {
      io.stdout(`${target.label}: ${verb(edit, false)} ${where}; deleted it (setup created it)\n`);
    } else {
      const backup = await writeConfigFile(file, edit.text, !run.backedUp.has(file.realPath));
      noteBackup(run, file.realPath, backup);
      run.changed++;
      const saved = backup ? ` (backup: ${backup})` : "";
      io.stdout(`${target.label}: ${verb(edit, false)} ${where}${saved}\n`);
    }
    if (target.note && edit.outcome !== "absent") io.stdout(`  note: ${target.note}\n`);
  } catch (error) {
    run.failed = true;
    const message = error instanceof IpcError || error instanceof Deno.errors.PermissionDenied
      ? error.message
      : `${target.path}: ${(error as Error).message}`;
    io.stderr(`agent-ipc setup: ${target.label}: ${message}\n`);
  }
}

/** The entry with what lets the assistant use it as set up (Codex's env_vars, no prompt per call). */
function withApprovals(
  entry: McpServerEntry,
  target: TargetConfig,
  request: SetupRequest,
): McpServerEntry {
  // With --ask, an approval an earlier run wrote is taken back (undefined removes it).
  if (target.id === "codex") {
    entry.env_vars = [...CODEX_ENV_VARS];
    entry.default_tools_approval_mode = request.ask ? undefined : "approve";
  }
  if (target.id === "gemini") entry.trust = request.ask ? undefined : true;
  return entry;
}

/**
 * Step 4b, for one assistant: its hooks (attention, wake), Claude Code's
 * permission rule and Codex's trust in the hooks, in their own files; with
 * --remove, takes exactly those out.
 */
async function applyHooks(
  target: TargetConfig,
  request: SetupRequest,
  launch: ServerLaunch | undefined,
  run: SetupRun,
  io: SetupIo,
): Promise<void> {
  const ctx: TargetContext = {
    os: io.os,
    isWsl: io.isWsl,
    home: io.home,
    env: io.env,
    project: request.project,
  };
  const path = hooksPath(target, ctx);
  const plan = launch && !request.remove
    ? hookPlan(target.id, path, launch, io.os, {
      notify: request.notify,
      settingsArgs: hookSettingsArgs(request.settings),
      waiter: target.id === "gemini" && request.wake
        ? waiterCommand(launch, io.os, hookSettingsArgs(request.settings))
        : undefined,
    })
    : undefined;
  const geminiWake = target.id === "gemini" && plan !== undefined && request.wake;
  // What an earlier --wake created in settings.json, as its policy file recorded it.
  const policyPath = target.id === "gemini" ? geminiPolicyPath(path, io.os) : undefined;
  const createdBefore = policyPath && (geminiWake || request.remove)
    ? geminiCreatedOf(
      run.pending.get(policyPath) ?? (await readConfigFile(policyPath).catch(() => undefined))
        ?.text ??
        "",
    )
    : [];
  let created = createdBefore;
  let events: string[] = [];
  let oldHooks = "";
  let newHooks = "";
  const permission = target.id === "claude" ? !request.remove && !request.ask : undefined;
  let permissionChanged = false;
  const ok = await editFile(
    path,
    target,
    request,
    run,
    io,
    (text) => {
      oldHooks = text;
      const edit = editHooks(text, plan);
      events = edit.events;
      let out = edit.text;
      if (permission !== undefined) {
        const next = editClaudePermission(out, permission);
        permissionChanged = next !== out;
        out = next;
      }
      if (geminiWake) {
        created = [...new Set([...createdBefore, ...geminiWakeCreated(out)])];
        out = editGeminiWakeSettings(out, true);
      } else if (request.remove) out = removeGeminiWakeSettings(out, createdBefore);
      newHooks = out;
      return out;
    },
    () =>
      events.length === 0
        ? ""
        : request.remove
        ? `removed agent-ipc's hooks (${events.join(", ")}) from`
        : `hooks for ${events.join(", ")} in`,
  );
  if (!ok) return;
  if (events.length === 0 && !request.remove && plan) {
    io.stdout(`${target.label}: hooks already in ${path}\n`);
  }
  if (permission === true) {
    io.stdout(
      `${target.label}: ${
        permissionChanged ? "allows" : "already allows"
      } agent-ipc's tools without a prompt ` +
        `(permissions.allow "${CLAUDE_PERMISSION}" in ${path}; --ask keeps the prompts)\n`,
    );
  }
  if (target.id === "codex") {
    const before = codexTrustOf(path, oldHooks || "{}");
    const after = plan ? codexTrustOf(path, newHooks || "{}") : new Map<string, string>();
    const done = await editFile(
      target.path,
      target,
      request,
      run,
      io,
      (text) => editCodexTrust(text, after, before),
      () => "",
    );
    if (done && plan) {
      io.stdout(
        `${target.label}: trusts agent-ipc's ${after.size} hooks (hooks.state trusted_hash in ` +
          `${target.path}): you asked for them by running setup; "setup codex --remove" takes the trust back\n`,
      );
    }
  }
  if (policyPath && (geminiWake || request.remove)) {
    const policy = policyPath;
    const rule = geminiWake && launch
      ? geminiWaiterPolicy(
        waiterCommand(launch, io.os, hookSettingsArgs(request.settings)),
        created,
      )
      : "";
    await editFile(
      policy,
      target,
      request,
      run,
      io,
      (text) => rule || (text.includes(GEMINI_POLICY_MARK) ? "" : text),
      () => (rule
        ? "the rule that allows agent-ipc's waiter in"
        : "removed the waiter's rule from"),
    );
  }
  if (plan && target.id !== "claude") {
    const how = target.id === "codex"
      ? "an idle session is woken with `codex queue` once it has had a turn (its Stop hook " +
        "starts a watcher); the messages show with the woken turn's prompt"
      : geminiWake
      ? "an idle session is woken when the waiter its model runs in the background ends " +
        "(told at session start); without a running waiter, messages wait for its next prompt"
      : target.id === "gemini"
      ? "no wake for an idle session: messages show at its next prompt or tool call " +
        "(--wake: a waiter the model runs in the background wakes it)" +
        (request.notify
          ? "; --notify rings and notifies when one arrives"
          : " (--notify: bell and desktop notification)")
      : target.id === "cursor"
      ? "messages show at session start and as a follow-up when a turn ends"
      : "notification only: Windsurf hooks cannot show messages to the model";
    io.stdout(`  note: ${how}\n`);
  }
}

/**
 * Reads `path`, applies `transform`, and writes (or with --dry-run shows the
 * diff of) the result; reports with `what()` (empty: say nothing). False
 * when the file could not be edited (reported, and the run marked failed).
 */
async function editFile(
  path: string,
  target: TargetConfig,
  request: SetupRequest,
  run: SetupRun,
  io: SetupIo,
  transform: (text: string) => string,
  what: () => string,
): Promise<boolean> {
  try {
    const file = await readConfigFile(path);
    const pending = run.pending.get(path);
    const current = pending ?? file.text ?? "";
    let text: string;
    try {
      text = transform(current);
    } catch (error) {
      throw asMalformed(path, error);
    }
    if (text === current) return true;
    const label = what();
    if (request.dryRun) {
      if (label) {
        const would = request.remove ? `would have ${label}` : `would write ${label}`;
        io.stdout(`${target.label}: ${would} ${path} (dry run, nothing written)\n`);
      }
      const from = pending !== undefined
        ? `${path} (with the entry)`
        : file.text === undefined
        ? "/dev/null"
        : `${path} (now)`;
      io.stdout(unifiedDiff(current, text, from, `${path} (after setup)`));
      run.pending.set(path, text);
      if (request.remove && wouldDelete(file, text)) {
        io.stdout(`${target.label}: would delete ${path} (setup created it)\n`);
      }
      return true;
    }
    if (request.remove && await deleteIfSkeleton(file, text, run)) {
      if (label) io.stdout(`${target.label}: ${label} ${path}; deleted it (setup created it)\n`);
      return true;
    }
    const backup = await writeConfigFile(file, text, !run.backedUp.has(file.realPath));
    noteBackup(run, file.realPath, backup);
    run.changed++;
    if (label) {
      // ("removed agent-ipc's hooks (…) from PATH" needs no "wrote".)
      const verb = request.remove ? "" : "wrote ";
      io.stdout(
        `${target.label}: ${verb}${label} ${path}${backup ? ` (backup: ${backup})` : ""}\n`,
      );
    }
    return true;
  } catch (error) {
    run.failed = true;
    const message = error instanceof IpcError || error instanceof Deno.errors.PermissionDenied
      ? error.message
      : `${path}: ${(error as Error).message}`;
    io.stderr(`agent-ipc setup: ${target.label}: ${message}\n`);
    return false;
  }
}

/**
 * With --remove: deletes `file` when `text`, what is left of it, is exactly
 * what setup writes into a file it creates ({@link isSetupSkeleton}), so a
 * file that did not exist before setup does not exist after --remove. True
 * when deleted.
 */
async function deleteIfSkeleton(file: ConfigFile, text: string, run: SetupRun): Promise<boolean> {
  if (!wouldDelete(file, text)) return false;
  if (!await deleteConfigFile(file, run.backups.get(file.realPath))) return false;
  run.backups.delete(file.realPath);
  run.changed++;
  return true;
}

/** `--remove` leaves `file` as `text`, all that setup writes into a file it creates. */
function wouldDelete(file: ConfigFile, text: string): boolean {
  return file.text !== undefined && isSetupSkeleton(text);
}

function noteBackup(run: SetupRun, realPath: string, backup: string | undefined): void {
  run.backedUp.add(realPath);
  if (backup !== undefined) run.backups.set(realPath, backup);
}

/** The edit of one file's text in its format; `entry` undefined takes ours out. */
function editConfig(
  target: TargetConfig,
  text: string | undefined,
  entry: McpServerEntry | undefined,
): ConfigEdit {
  const request = {
    text,
    path: target.path,
    serversKey: target.serversKey,
    entry,
    keepsEmptyServers: target.keepsEmptyServers,
  };
  return target.format === "json" ? editJsonConfig(request) : editTomlConfig(request);
}

/** Step 5: the closing advice and the exit code. */
function summarize(request: SetupRequest, run: SetupRun, io: SetupIo): number {
  if (request.all && run.done === 0) {
    io.stderr(
      "agent-ipc setup: found none of the assistants; name one to configure it anyway " +
        "(e.g. `agent-ipc setup claude`)\n",
    );
    return 1;
  }
  if (run.changed > 0 && !request.remove) {
    io.stdout("Restart the assistants (or reload their MCP servers) to pick up agent-ipc.\n");
  }
  return run.failed ? 1 : 0;
}

function pathFor(io: SetupIo): typeof posix {
  return io.os === "windows" ? win32 : posix;
}

function verb(edit: ConfigEdit, dryRun: boolean): string {
  const [now, past, preposition] = edit.outcome === "added"
    ? ["add", "added", "to"]
    : edit.outcome === "updated"
    ? ["update", "updated", "in"]
    : ["remove", "removed", "from"];
  return `${dryRun ? `would ${now}` : past} ${SERVER_KEY} ${preposition}`;
}

function usageError(io: SetupIo, message: string): number {
  io.stderr(`agent-ipc setup: ${message}\n${USAGE}Run \`agent-ipc setup --help\` for more.\n`);
  return 2;
}

function quoteArg(arg: string): string {
  return /^[\w@%+=:,./\\-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

async function anyExists(paths: string[]): Promise<boolean> {
  for (const path of paths) {
    try {
      await Deno.stat(path);
      return true;
    } catch {
      // Try the next marker.
    }
  }
  return false;
}

/** The help text, with the config paths of this machine. */
export function helpText(io: Pick<SetupIo, "os" | "isWsl" | "home" | "env">): string {
  const ctx: TargetContext = { os: io.os, isWsl: io.isWsl, home: io.home, env: io.env };
  const rows = TARGET_IDS.map((id) => {
    const target = resolveTarget(id, ctx) as TargetConfig;
    const project = resolveTarget(id, { ...ctx, project: "DIR" });
    const projectPath = typeof project === "string" ? "(none)" : project.path;
    return `  ${id.padEnd(9)} ${target.label.padEnd(12)} ${target.path}\n` +
      `  ${"".padEnd(9)} ${"".padEnd(12)} --project: ${projectPath}\n`;
  }).join("");
  const where = io.isWsl ? "WSL" : io.os;
  return `${USAGE}
Adds agent-ipc as an MCP server named "${SERVER_KEY}" to an assistant's config, or
removes it. Other servers and settings in the file are kept; running it again
changes nothing; a changed file is first copied to <file>.bak. Next to the
entry it installs hooks ("agent-ipc hook ..."), merged with your own, that show
the assistant its unread messages at each prompt and tool call and wake an idle
Claude Code session when one arrives.

Assistants and their config files on this machine (${where}):
${rows}  all       every assistant found on this machine (with --project: every one
            that has a project-level config)

Options:
  --name NAME    start the server registered as NAME (adds "--name NAME" to its
                 args and IPC_INSTANCE=NAME to its env); for several assistants
                 each gets NAME-<assistant>; without it, the assistant's name
                 (claude, gemini, codex, cursor, windsurf)
  --project DIR  edit the project's config in DIR instead of the user config
  --ask          keep the assistant's prompt before each agent-ipc tool call
                 (default: allowed without a prompt, headless runs included:
                 Claude Code permissions.allow "mcp__agent-ipc", Codex
                 default_tools_approval_mode = "approve", Gemini "trust": true)
  --no-hooks     the MCP entry only: no hooks (messages then wait for a tool call)
  --notify       where an idle session cannot be woken (Codex, Gemini CLI,
                 Windsurf), ring the bell and notify when a message arrives
  --wake         Gemini CLI: let an idle session be woken: turns on
                 experimental.modelSteering and tools.shell.
                 backgroundCompletionBehavior "inject", allows agent-ipc's
                 waiter in ~/.gemini/policies/agent-ipc.toml, and tells the
                 model at session start to run it in the background
  --remove       take the agent-ipc entry, its hooks, permission and trust out
  --dry-run      show the change as a diff and write nothing
  -h, --help     show this help

${SETTING_FLAGS_HELP}

The server command is this compiled binary, else an agent-ipc executable on
PATH, else \`deno run\` with agent-ipc's permission flags and this main module.

Paths: ~ is $HOME on Linux, macOS and WSL and %USERPROFILE% on Windows;
CLAUDE_CONFIG_DIR and CODEX_HOME move Claude Code's and Codex's configs.
${WSL_NOTE}

Exit codes: 0 done or nothing to do, 1 a config could not be changed
(malformed files are left untouched), 2 usage error.
`;
}
