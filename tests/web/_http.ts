/**
 * A raw HTTP/1.1 client for console tests: unlike `fetch`, it sends exactly
 * the Host, Origin and Sec-Fetch-* headers a test asks for (or none), which
 * is what the DNS-rebinding and CSRF checks are about.
 *
 * @module
 */

/** One answer. */
export interface RawResponse {
  status: number;
  headers: Headers;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** What to send. `host: null` sends no Host header. */
export interface RawRequest {
  method?: string;
  path?: string;
  host?: string | null;
  headers?: Record<string, string>;
  body?: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function dechunk(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let at = 0;
  for (;;) {
    const eol = bytes.indexOf(13, at);
    const size = parseInt(dec.decode(bytes.subarray(at, eol)), 16);
    if (!size) break;
    out.push(...bytes.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return new Uint8Array(out);
}

/** Sends one request on a new connection and reads the whole answer. */
export async function rawHttp(port: number, req: RawRequest = {}): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const lines = [`${req.method ?? "GET"} ${req.path ?? "/"} HTTP/1.1`];
    const host = req.host === undefined ? `127.0.0.1:${port}` : req.host;
    if (host !== null) lines.push(`Host: ${host}`);
    lines.push("Connection: close");
    for (const [k, v] of Object.entries(req.headers ?? {})) lines.push(`${k}: ${v}`);
    const body = req.body === undefined ? undefined : enc.encode(req.body);
    if (body) lines.push(`Content-Length: ${body.length}`);
    const head = enc.encode(lines.join("\r\n") + "\r\n\r\n");
    await conn.write(body ? new Uint8Array([...head, ...body]) : head);
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
    let at = 0;
    for (const c of chunks) all.set(c, at), at += c.length;
    const split = all.findIndex((_, i) =>
      all[i] === 13 && all[i + 1] === 10 && all[i + 2] === 13 && all[i + 3] === 10
    );
    const [statusLine, ...headerLines] = dec.decode(all.subarray(0, split)).split("\r\n");
    const headers = new Headers();
    for (const l of headerLines) {
      const c = l.indexOf(":");
      headers.append(l.slice(0, c).trim(), l.slice(c + 1).trim());
    }
    let raw: Uint8Array = all.subarray(split + 4);
    if (headers.get("transfer-encoding") === "chunked") raw = dechunk(raw);
    const text = dec.decode(raw);
    return {
      status: Number(statusLine.split(" ")[1]),
      headers,
      body: text,
      json: <T>() => JSON.parse(text) as T,
    };
  } finally {
    conn.close();
  }
}
