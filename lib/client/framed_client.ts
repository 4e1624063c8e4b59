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
import { TIMEOUTS } from "../defaults.ts";
import { listenerOf } from "../proc_net.ts";

const decoder = new TextDecoder();

/** How to reach a broker. */
export interface ConnectOptions {
  host: string;
  port: number;
  /** TLS (network mode): PEM CA certificates to trust; `true` for the system store. */
  tls?: { caCerts?: string[] } | true;
  /** Largest reply accepted. */
  maxFrame?: number;
  /**
   * With requests in flight and nothing heard for this long, the client pings
   * the broker; no answer within half as long again and every request fails with
   * {@linkcode BrokerNotRespondingError} (default 2 s). The connect itself
   * gives up after twice this.
   */
  quietMs?: number;
}

/**
 * The broker accepted the connection but does not answer (its process is
 * stopped, or its event loop is stuck). Code E_NOT_RESPONDING; `pid` when the
 * process listening on the port could be found.
 */
export class BrokerNotRespondingError extends IpcError {
  readonly pid?: number;
  readonly stopped?: boolean;

  constructor(
    host: string,
    port: number,
    waitedMs: number,
    listener?: { pid: number; stopped: boolean },
  ) {
    const pid = listener?.pid;
    const stopped = listener?.stopped;
    super(
      "E_NOT_RESPONDING",
      `The broker${pid === undefined ? "" : ` (pid ${pid})`} on ${host}:${port} is not ` +
        `responding: no answer within ${Math.round(waitedMs / 1000)} s` +
        (stopped
          ? `; its process is stopped (SIGSTOP or a debugger): it resumes on SIGCONT ("kill -CONT ${pid}")`
          : "; if it stays so, stop that process and the next command starts another broker"),
      pid === undefined ? undefined : { pid, stopped },
    );
    this.name = "BrokerNotRespondingError";
    this.pid = pid;
    this.stopped = stopped;
  }

  /** The error for the broker on `host:port`, naming the process that listens there when it can. */
  static async of(host: string, port: number, waitedMs: number): Promise<BrokerNotRespondingError> {
    const loopback = host === "localhost" || host === "::1" || host.startsWith("127.");
    const listener = loopback ? await listenerOf(port).catch(() => undefined) : undefined;
    return new BrokerNotRespondingError(host, port, waitedMs, listener);
  }
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
  readonly #where: { host: string; port: number };
  readonly #quietMs: number;
  /** When the broker last sent anything. */
  #heard = Date.now();
  /** When the liveness ping went out, while it waits for its answer. */
  #probeAt = 0;
  #notResponding: BrokerNotRespondingError | undefined;
  #declaring = false;
  readonly #watch: ReturnType<typeof setInterval>;

  private constructor(conn: Deno.Conn, options: ConnectOptions) {
    this.#conn = conn;
    this.#where = { host: options.host, port: options.port };
    this.#quietMs = options.quietMs ?? TIMEOUTS.brokerQuietMs;
    this.#watch = setInterval(() => this.#check(), Math.max(10, this.#quietMs / 4));
    Deno.unrefTimer(Number(this.#watch));
    this.closed = this.#readLoop(options.maxFrame ?? DEFAULT_MAX_FRAME * 2);
  }

  /** Liveness: a quiet broker with requests waiting is pinged, then given up on. */
  #check(): void {
    if (this.#closed) return;
    const now = Date.now();
    if (this.#probeAt) {
      // The ping is answered at once by a live broker, however busy its store.
      if (now - this.#probeAt < this.#quietMs / 2 || this.#declaring) return;
      this.#declaring = true;
      void BrokerNotRespondingError.of(this.#where.host, this.#where.port, now - this.#heard)
        .then((e) => {
          // It may have answered while we looked for its process.
          if (this.#closed || !this.#probeAt) return;
          this.#notResponding = e;
          this.close();
        }).finally(() => this.#declaring = false);
      return;
    }
    if (this.#pending.size === 0 || now - this.#heard < this.#quietMs) return;
    this.#probeAt = now;
    this.requestRaw({ action: "ping" }).then(() => this.#probeAt = 0, () => {});
  }

  /**
   * Connects. Rejects with the OS error (e.g. `Deno.errors.ConnectionRefused`),
   * or {@linkcode BrokerNotRespondingError} when the connect does not finish
   * in time (a full backlog of a broker that does not accept).
   */
  static async connect(options: ConnectOptions): Promise<FramedClient> {
    const connecting = options.tls
      ? Deno.connectTls({
        hostname: options.host,
        port: options.port,
        caCerts: options.tls === true ? undefined : options.tls.caCerts,
      })
      : Deno.connect({ hostname: options.host, port: options.port });
    const limit = 2 * (options.quietMs ?? TIMEOUTS.brokerQuietMs);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const conn = await Promise.race([
      connecting,
      new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), limit)),
    ]).finally(() => clearTimeout(timer));
    if (conn === undefined) {
      connecting.then((c) => c.close(), () => {});
      throw await BrokerNotRespondingError.of(options.host, options.port, limit);
    }
    if (!options.tls) {
      try {
        (conn as Deno.TcpConn).setNoDelay(true);
      } catch { /* fine */ }
    }
    return new FramedClient(conn, options);
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
    clearInterval(this.#watch);
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
    if (this.#notResponding) return this.#notResponding;
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
        this.#heard = Date.now();
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
