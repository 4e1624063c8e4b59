/**
 * Picks the command from the arguments and runs it; returns the exit status.
 *
 * @module
 */

import { runBrokerCommand } from "./broker_command.ts";

/** Runs the command line `args`; returns the exit status (0, 1 failure, 2 usage). */
export async function runCli(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "broker":
      return await runBrokerCommand(rest);
    default:
      console.error(`agent-ipc: unknown command "${command ?? ""}"`);
      return 2;
  }
}
