/**
 * Every third-party import of agent-ipc, with full versioned `npm:` specifiers.
 *
 * Kept in one module so that the program also runs from a URL: a remote entry
 * module does not read `deno.json`, so no import may rely on an import map.
 *
 * @module
 */

// @ts-types="npm:@modelcontextprotocol/sdk@1.32.2/server/mcp.js"
export {
  McpServer,
  ResourceTemplate,
} from "npm:@modelcontextprotocol/sdk@1.32.2/server/mcp.js";
// @ts-types="npm:@modelcontextprotocol/sdk@1.32.2/server/stdio.js"
export { StdioServerTransport } from "npm:@modelcontextprotocol/sdk@1.32.2/server/stdio.js";
// @ts-types="npm:@modelcontextprotocol/sdk@1.32.2/types.js"
export {
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "npm:@modelcontextprotocol/sdk@1.32.2/types.js";
export { z } from "npm:zod@4.6.7";
