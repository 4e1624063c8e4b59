// Wires runSetup to the process the way main.ts does, for the end-to-end test.
import { denoSetupIo } from "../../lib/setup/deno_io.ts";
import { runSetup } from "../../lib/setup/setup_command.ts";

Deno.exitCode = await runSetup(Deno.args, denoSetupIo());
