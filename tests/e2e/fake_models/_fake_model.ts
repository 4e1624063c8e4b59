/**
 * The part every fake model endpoint shares: an HTTP server on 127.0.0.1:0
 * that records each request, asks a script what the model says next, and
 * lets a test wait for a request that matches a condition.
 *
 * A vendor module (anthropic.ts, openai.ts, gemini.ts) turns the vendor's
 * request into a {@linkcode ModelCall} and a {@linkcode Reply} into the
 * vendor's streaming answer.
 *
 * @module
 */

/** What the fake model says next: text, or a call to one tool. */
export type Reply =
  | { text: string }
  | {
    /** The tool's name as the assistant offered it (e.g. `mcp__agent-ipc__send`). */
    tool: string;
    input: Record<string, unknown>;
    /** Codex groups MCP tools in a namespace (`mcp__agent_ipc`). */
    namespace?: string;
  };

/** The latest turn of the conversation the model is shown. */
export type LastTurn =
  | { kind: "user"; text: string }
  | { kind: "tool_result"; tool: string; text: string }
  | { kind: "none" };

/** One request to the fake model, as the test sees it. */
export interface ModelCall {
  vendor: "anthropic" | "openai" | "gemini";
  /** Arrival order, from 0. */
  seq: number;
  method: string;
  /** Path and query. */
  path: string;
  headers: Record<string, string>;
  /** The parsed JSON body (undefined when not JSON). */
  // deno-lint-ignore no-explicit-any
  body: any;
  /** The raw body text: what the model was shown, for `includes` checks. */
  raw: string;
  /** The names of the tools offered. */
  tools: string[];
  /** The assistant's main loop (a conversation turn), as opposed to side requests
   * such as titles, routing or quota checks. */
  main: boolean;
  last: LastTurn;
}

/** Decides the model's reply to a main-loop request. */
export type Script = (call: ModelCall) => Reply;

/** What a vendor module provides to {@linkcode startFakeModel}. */
export interface VendorCodec {
  vendor: ModelCall["vendor"];
  /** Fills the vendor-specific fields of a call; undefined when the path is not a model call. */
  describe(
    path: string,
    body: unknown,
  ): Pick<ModelCall, "tools" | "main" | "last"> | undefined;
  /** The HTTP answer to a model call. */
  respond(call: ModelCall, reply: Reply, seq: number): Response;
  /** Answers for other paths (token counts, model lists); undefined for 404. */
  other?(path: string, method: string, body: unknown): Response | undefined;
  /** The reply to a side request (titles, routing) when the script is not asked. */
  sideReply(call: ModelCall): Reply;
}

/** A running fake model endpoint. */
export interface FakeModel extends AsyncDisposable {
  /** The base URL to configure in the assistant. */
  readonly url: string;
  readonly port: number;
  /** Every request so far, in arrival order. */
  readonly calls: ModelCall[];
  /** Decides main-loop replies; replace it at any time. */
  script: Script;
  /**
   * Resolves with the first call (already recorded or future) that matches,
   * or rejects after `timeoutMs`.
   */
  waitFor(match: (call: ModelCall) => boolean, timeoutMs: number): Promise<ModelCall>;
  /** Main-loop calls whose raw body contains `text`. */
  shown(text: string): ModelCall[];
}

/** Starts a fake model endpoint for one vendor on 127.0.0.1:0. */
export function startFakeModel(codec: VendorCodec, script: Script): FakeModel {
  const calls: ModelCall[] = [];
  const waiters = new Set<{ match: (c: ModelCall) => boolean; resolve: (c: ModelCall) => void }>();
  const state = { script };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      const path = url.pathname + url.search;
      const raw = await req.text();
      let body: unknown = undefined;
      try {
        body = raw === "" ? undefined : JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const described = codec.describe(url.pathname, body);
      if (described === undefined) {
        const answer = codec.other?.(url.pathname, req.method, body);
        return answer ?? new Response(`fake ${codec.vendor} model: no route ${path}`, {
          status: 404,
        });
      }
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => headers[k] = v);
      const call: ModelCall = {
        vendor: codec.vendor,
        seq: calls.length,
        method: req.method,
        path,
        headers,
        body,
        raw,
        ...described,
      };
      calls.push(call);
      for (const w of [...waiters]) {
        if (w.match(call)) {
          waiters.delete(w);
          w.resolve(call);
        }
      }
      let reply: Reply;
      try {
        reply = call.main ? state.script(call) : codec.sideReply(call);
      } catch (e) {
        reply = { text: `fake model script failed: ${e}` };
      }
      return codec.respond(call, reply, call.seq);
    },
  );
  const port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls,
    get script() {
      return state.script;
    },
    set script(s: Script) {
      state.script = s;
    },
    waitFor(match, timeoutMs) {
      const found = calls.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = {
          match,
          resolve: (c: ModelCall) => {
            clearTimeout(timer);
            resolve(c);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(
            new Error(
              `Fake ${codec.vendor} model: no matching request within ${timeoutMs} ms ` +
                `(${calls.length} requests: ${calls.map((c) => c.path).join(", ")})`,
            ),
          );
        }, timeoutMs);
        waiters.add(w);
      });
    },
    shown(text) {
      return calls.filter((c) => c.main && c.raw.includes(text));
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** Server-sent events from `[event name or null, data]` pairs. */
export function sse(events: [string | null, unknown][]): Response {
  const text = events
    .map(([e, d]) => (e ? `event: ${e}\n` : "") + `data: ${JSON.stringify(d)}\n\n`)
    .join("");
  return new Response(text, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}

/** JSON text of a value as a tool result carries it. */
export function textOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map(textOf).join("\n");
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (typeof o.text === "string") return o.text;
    if ("content" in o) return textOf(o.content);
    if ("output" in o) return textOf(o.output);
    return JSON.stringify(value);
  }
  return String(value ?? "");
}
