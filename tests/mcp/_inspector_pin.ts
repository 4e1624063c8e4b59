/**
 * Never run: names the MCP Inspector in a module graph, so that
 * `deno install --lock=tests/deno.lock --entrypoint tests/mcp/_inspector_pin.ts`
 * (and `.ci/run`, which installs every file under tests/) caches it for
 * `inspector_test.ts`, which runs it offline. No test imports this module, so
 * the inspector stays out of the runtime's deno.lock.
 *
 * @module
 */

/** Never called. */
export const pinInspector = () =>
  import("npm:@modelcontextprotocol/inspector@2.12.0/clients/launcher/build/index.js");
