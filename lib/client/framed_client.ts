/**
 * A framed connection to a broker: pipelined requests matched to replies by
 * `id`, writes coalesced from one queue (frames never interleave), and every
 * pending request rejected with E_UNAVAILABLE the moment the connection drops.
 *
 * @module
 */

import { IpcError, isErrorCode } from "../protocol/errors.ts";
import { DEFAULT_MAX_FRAME, FrameDecoder, FrameWriter } from "../protocol/framing.ts";
import type { OkReply, Reply } from "../protocol/messages.ts";

const decoder = new TextDecoder();

/** How to reach a broker. */
export interface ConnectOptions {
  host: string;
  port: number;
  /** TLS (network mode): PEM CA certificates to trust; `true` for the system store. */
  tls?: { caCerts?: string[] } | true;
  /** Largest reply accepted. */
  maxFrame?: number;
}

/**
 * The peer on the port answered, but not in the agent-ipc protocol (a frame
 * it cannot be, a reply that is not JSON, a ping without `broker:
 * "agent-ipc"`): another program holds the port. Its code is E_UNAVAILABLE.
 */
export class NotABrokerError extends IpcError {
  constructor(message: string) {
    super("E_UNAVAILABLE", message);
    this.name = "NotABrokerError";
  }
}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (e: unknown) => void;
}

/** One framed connection. */
export class FramedClient implements AsyncDisposable {
  readonly #conn: Deno.Conn;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  /** Requests waiting to be written, encoded in place. */
  readonly #out = new FrameWriter();
  #writing = false;
  #closed = false;
  #closeReason: string | undefined;
  /** The peer broke the protocol (see {@linkcode NotABrokerError}). */
  #notBroker = false;
  /** Fields of the broker's connection-level error reply (e.g. `max_frame`), if it sent one. */
  #closeDetails: Record<string, unknown> | undefined;
  /** Resolves when the connection is gone (by either side). */
  readonly closed: Promise<void>;

  private constructor(conn: Deno.Conn, maxFrame: number) {
    this.#conn = conn;
    this.closed = this.#readLoop(maxFrame);
  }

  /** Connects. Rejects with the OS error (e.g. `Deno.errors.ConnectionRefused`). */
  static async connect(options: ConnectOptions): Promise<FramedClient> {
    let conn: Deno.Conn;
    if (options.tls) {
      conn = await Deno.connectTls({
        hostname: options.host,
        port: options.port,
        caCerts: options.tls === true ? undefined : options.tls.caCerts,
      });
    } else {
      conn = await Deno.connect({ hostname: options.host, port: options.port });
      try {
        (conn as Deno.TcpConn).setNoDelay(true);
      } catch { /* fine */ }
    }
    return new FramedClient(conn, options.maxFrame ?? DEFAULT_MAX_FRAME * 2);
  }

  /** True once the connection is gone. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Number of requests awaiting replies. */
  get inflight(): number {
    return this.#pending.size;
  }

  /**
   * Sends one request and resolves with its reply, whatever its status.
   * Rejects with IpcError E_UNAVAILABLE when the connection drops first.
   */
  requestRaw(body: Record<string, unknown>): Promise<Reply> {
    if (this.#closed) return Promise.reject(this.#gone("closed"));
    const id = this.#nextId++;
    const json = JSON.stringify({ ...body, id });
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#out.push(json);
      if (!this.#writing) void this.#flush();
    });
  }

  /** Sends one request; resolves with an ok reply or throws IpcError with its code. */
  async request(body: Record<string, unknown>): Promise<OkReply> {
    const reply = await this.requestRaw(body);
    if (reply.status === "ok") return reply;
    const code = isErrorCode(reply.code) ? reply.code : "E_INTERNAL";
    const { status: _s, code: _c, message, id: _i, ...details } = reply;
    throw new IpcError(code, String(message ?? "Broker error"), details);
  }

  /** Closes the connection; pending requests reject. Safe twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* gone */ }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  /** The error of a request the connection cannot answer: it is closed or was lost. */
  #gone(how: "closed" | "lost"): IpcError {
    const message = `Connection to broker ${how}${
      this.#closeReason ? `: ${this.#closeReason}` : ""
    }`;
    return this.#notBroker
      ? new NotABrokerError(message)
      : new IpcError("E_UNAVAILABLE", message, this.#closeDetails);
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#out.length > 0 && !this.#closed) {
        const data = this.#out.take();
        let at = 0;
        while (at < data.length) at += await this.#conn.write(data.subarray(at));
        this.#out.release(data);
      }
    } catch (e) {
      this.#closeReason = (e as Error).message;
      this.close();
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(maxFrame: number): Promise<void> {
    // Replies are parsed at once, before the next read reuses `buf`: no copy.
    const frames = new FrameDecoder(maxFrame, { copy: false });
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        let n: number | null;
        try {
          n = await this.#conn.read(buf);
        } catch (e) {
          if (!this.#closed) this.#closeReason = (e as Error).message;
          break;
        }
        if (n === null) break;
        for (const ev of frames.push(buf.subarray(0, n))) {
          if (ev.kind === "error") {
            this.#closeReason = `bad reply frame: ${ev.message}`;
            this.#notBroker = true;
            this.close();
            break;
          }
          let reply: Reply;
          try {
            reply = JSON.parse(decoder.decode(ev.payload));
          } catch {
            this.#closeReason = "reply is not JSON";
            this.#notBroker = true;
            this.close();
            break;
          }
          const p = typeof reply.id === "number" ? this.#pending.get(reply.id) : undefined;
          if (p) {
            this.#pending.delete(reply.id as number);
            p.resolve(reply);
          } else if (reply.status === "error" && reply.id === undefined) {
            // A connection-level error (bad frame): the broker closes next.
            this.#closeReason = String(reply.message);
            const { status: _s, code, message: _m, id: _i, ...details } = reply;
            this.#closeDetails = { broker_code: code, ...details };
          }
        }
        if (this.#closed) break;
      }
    } finally {
      this.close();
      const err = this.#gone("lost");
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    }
  }
}
