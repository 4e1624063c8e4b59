/**
 * The CLI commands about who you are and who is there: `register`, `rename`,
 * `whoami`, `list`, `status` and `unregister`. Each keeps the saved session
 * file in step with the broker.
 *
 * @module
 */

import { selfName } from "../self_command.ts";
import { isReservedName, NAME_PATTERN } from "../protocol/validate.ts";
import type { WireInstance } from "../protocol/messages.ts";
import type { Session } from "../client/agent_client.ts";
import {
  inspectSessionFile,
  readSessionFile,
  removeSessionFile,
  sessionFileError,
  writeSessionFile,
} from "../client/session_file.ts";
import {
  type ClientCommand,
  COMMON_HELP,
  connectClient,
  connectWithSession,
  requireSession,
  UsageError,
} from "./_common.ts";
import { usageLine } from "../command_table.ts";
import {
  type BrokerStatus,
  formatInstances,
  formatStatus,
  formatTime,
  type ListedInstance,
  plural,
} from "./format.ts";
import { reachOf, readActivity, readAllActivity } from "../state/agent_records.ts";

/** Throws a UsageError unless `name` may be registered. */
export function checkNameArg(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new UsageError(
      `Invalid name ${JSON.stringify(name.slice(0, 40))}: use 1 to 32 of A-Z a-z 0-9 _ -`,
    );
  }
  if (isReservedName(name)) {
    throw new UsageError(`Name "${name}" is reserved (system, all, human): pick another name`);
  }
  return name;
}

const REGISTER_FLAGS = { force: { type: "boolean" } } as const;

/** `register NAME`. */
export const REGISTER: ClientCommand<typeof REGISTER_FLAGS> = {
  name: "register",
  flags: REGISTER_FLAGS,
  positionals: { min: 1, max: 1, usage: "NAME" },
  help: `${usageLine("register")}

Claims NAME on the broker and saves the session in the session file, so the
other commands know who you are. Messages sent to NAME before it registered
are waiting for it. Registering a name again revokes its older sessions.
Starts a background broker when none is running.

Options:
  --force               replace a corrupt session file (or one other users can read)
${COMMON_HELP}

Example:
  agent-ipc register fred
  IPC_SESSION_FILE=~/.ipc-session-bob agent-ipc register bob
`,
  async run(ctx) {
    const name = checkNameArg(ctx.positionals[0]);
    const file = ctx.settings.sessionFile;
    const force = ctx.values.force === true;
    // Check the file before registering: never register and then fail to save.
    const state = await inspectSessionFile(file);
    if (state.kind === "corrupt" || state.kind === "foreign") {
      const replaceable = state.kind === "corrupt" || state.replaceable;
      if (!force || !replaceable) throw sessionFileError(file, state);
    }
    await using client = await connectClient(ctx.settings);
    const r = await client.register(name);
    await writeSessionFile(file, client.session!, { force });
    const replaced = state.kind === "ok" && state.session.name !== name
      ? state.session.name
      : undefined;
    const waiting = r.queued
      ? ` (${plural(r.queued, "message")} waiting: "${selfName()} check")`
      : "";
    ctx.print(
      `Registered ${name}${waiting}\nSession saved to ${file}\n` +
        (replaced ? `(it replaces the saved session of "${replaced}")\n` : ""),
      {
        message: r.message,
        instance_id: name,
        queued: r.queued,
        session_file: file,
        ...(replaced ? { replaced } : {}),
      },
    );
  },
};

/** `rename NEW`. */
export const RENAME: ClientCommand<Record<never, never>> = {
  name: "rename",
  flags: {},
  positionals: { min: 1, max: 1, usage: "NEW" },
  help: `${usageLine("rename")}

Renames you to NEW. Messages sent to your old name are forwarded to NEW for
two hours, and every other instance is told. One rename per hour.

${COMMON_HELP}

Example:
  agent-ipc rename fred-reviewer
`,
  async run(ctx) {
    const newName = checkNameArg(ctx.positionals[0]);
    const { client, session } = await connectWithSession(ctx.settings);
    await using _ = client;
    const r = await client.rename(newName);
    await writeSessionFile(ctx.settings.sessionFile, client.session!);
    const until = String(r.forward_until ?? "");
    ctx.print(
      `${r.message}\nMessages to "${session.name}" are forwarded to "${newName}" until ${
        formatTime(until)
      }\n`,
      {
        message: r.message,
        old_id: session.name,
        new_id: newName,
        forward_until: until,
        session_file: ctx.settings.sessionFile,
      },
    );
  },
};

/** `whoami`. */
export const WHOAMI: ClientCommand<Record<never, never>> = {
  name: "whoami",
  flags: {},
  positionals: { min: 0, max: 0, usage: "" },
  help: `${usageLine("whoami")}

Prints your registered name and how many messages wait for you.

${COMMON_HELP}

Example:
  agent-ipc whoami --json
`,
  async run(ctx) {
    const { client } = await connectWithSession(ctx.settings);
    await using _ = client;
    const me = await client.whoami();
    const reach = reachOf(await readActivity(ctx.settings.dataDir, me.name));
    const reached = reach
      ? `Reached: attention ${reach.attention ? "yes" : "no"}, wake ${reach.wake}${
        reach.wake_note ? ` (${reach.wake_note})` : ""
      }, last wake ${
        reach.last_wake
          ? `${new Date(reach.last_wake).toISOString()}${
            reach.last_wake_via ? ` (${reach.last_wake_via})` : ""
          }`
          : "never"
      }\n`
      : "";
    ctx.print(
      `You are ${me.name} (${
        plural(me.queued, "message")
      } queued)\nSession: ${ctx.settings.sessionFile}\n${reached}`,
      {
        instance_id: me.name,
        queued: me.queued,
        session_file: ctx.settings.sessionFile,
        ...(reach ? { reach } : {}),
      },
    );
  },
};

/** `list`. */
export const LIST: ClientCommand<Record<never, never>> = {
  name: "list",
  flags: {},
  positionals: { min: 0, max: 0, usage: "" },
  help: `${usageLine("list")}

Lists the registered instances: online (connected now) or not, queued
messages, when last seen, and host.

${COMMON_HELP}

Example:
  agent-ipc list
`,
  async run(ctx) {
    const { client, session } = await connectWithSession(ctx.settings);
    await using _ = client;
    const instances = await withActivity(await client.list(), ctx.settings.dataDir);
    ctx.print(formatInstances(instances, client.session?.name ?? session.name), { instances });
  },
};

/**
 * Adds what the assistants' hooks recorded in this machine's data dir:
 * awake or idle, since when, the last wake.
 */
async function withActivity(
  instances: WireInstance[],
  dataDir: string,
): Promise<ListedInstance[]> {
  const all = await readAllActivity(dataDir);
  const iso = (ms: number) => new Date(ms).toISOString();
  return instances.map((i) => {
    const a = all.get(i.id);
    if (!a) return i;
    const reach = reachOf(a)!;
    const activity = {
      state: a.state,
      since: iso(a.since),
      ...(a.last_wake ? { last_wake: iso(a.last_wake) } : {}),
      attention: reach.attention,
      wake: reach.wake,
      ...(reach.wake_note ? { wake_note: reach.wake_note } : {}),
      ...(reach.last_wake_via ? { last_wake_via: reach.last_wake_via } : {}),
    };
    return { ...i, activity };
  });
}

/** `status`. */
export const STATUS: ClientCommand<Record<never, never>> = {
  name: "status",
  flags: {},
  positionals: { min: 0, max: 0, usage: "" },
  help: `${usageLine("status")}

Shows the broker: address, pid, version, uptime, data dir, store and
connections; when you are registered, also every instance and its queue
depth. Starts a background broker when none is running. Works without a
session (a broken session file is reported on stderr and ignored).

${COMMON_HELP}

Example:
  agent-ipc status --json
`,
  async run(ctx) {
    const file = ctx.settings.sessionFile;
    let session: Session | undefined;
    try {
      session = await readSessionFile(file);
    } catch (e) {
      ctx.io.stderr(`agent-ipc status: ${(e as Error).message}\n`);
    }
    await using client = await connectClient(ctx.settings, session);
    if (session && !client.session) {
      ctx.io.stderr(
        `agent-ipc status: the saved session of "${session.name}" is no longer valid: ` +
          `run "${selfName()} register ${session.name}" again\n`,
      );
    }
    const r = await client.status();
    const broker = r.broker as BrokerStatus;
    const me = typeof r.instance_id === "string" ? r.instance_id : undefined;
    const listed = r.instances as WireInstance[] | undefined;
    const instances = listed && await withActivity(listed, ctx.settings.dataDir);
    ctx.print(formatStatus(broker, me, instances, file), {
      broker,
      ...(me ? { instance_id: me, instances } : {}),
      session_file: file,
    });
  },
};

/** `unregister`. */
export const UNREGISTER: ClientCommand<Record<never, never>> = {
  name: "unregister",
  flags: {},
  positionals: { min: 0, max: 0, usage: "" },
  help: `${usageLine("unregister")}

Ends your session on the broker and deletes the session file. Your name is
then free; messages still queued for it stay until someone registers it.
A session the broker no longer knows is only removed from the file (exit 0).

${COMMON_HELP}

Example:
  agent-ipc unregister
`,
  async run(ctx) {
    const file = ctx.settings.sessionFile;
    const session = await requireSession(ctx.settings);
    await using client = await connectClient(ctx.settings, session);
    let message: string;
    if (client.session) {
      message = (await client.unregister()).message;
    } else {
      message = `The session of ${session.name} was already unknown to the broker`;
    }
    const removed = await removeSessionFile(file, session);
    ctx.print(
      `${message}\n${removed ? `Removed ${file}` : `Left ${file} alone (it changed meanwhile)`}\n`,
      { message, instance_id: session.name, session_file: file, removed },
    );
  },
};
