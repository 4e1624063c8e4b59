/**
 * Requests on the hot paths of the NATS store (JetStream publish, direct
 * get, message delete, stream info), multiplexed on one inbox subscription
 * with one sweeper timer. The NATS client's own request path builds an
 * Error with a stack trace and a timer per request, which cost about a third
 * of the CPU of a busy store.
 *
 * @module
 */

import type { NatsConnection, NatsMsg, NatsMsgHdrs as MsgHdrs } from "../deps.ts";
import { loadNats } from "../deps.ts";

const { createInbox, JetStreamApiCodes, natsHeaders } = await loadNats();

/**
 * JetStream API error codes we branch on that `JetStreamApiCodes` lacks, named
 * as nats-server names them.
 */
export const MoreJetStreamApiCodes = {
  /** JSStreamMsgDeleteFailedF: a message delete failed (the message is not there). */
  StreamMsgDeleteFailed: 10057,
  /** JSSequenceNotFoundErrF: a delete of a sequence already deleted ("sequence 42 not found"). */
  SequenceNotFound: 10043,
  /** JSStreamNameExistErr: a stream of that name exists with another configuration. */
  StreamNameExist: 10058,
  /** JSClusterNotAvailErr: "JetStream system temporarily unavailable" (no meta leader yet). */
  ClusterNotAvailable: 10008,
  /** JSClusterNotLeaderErr: the request reached a server that is no longer the leader. */
  ClusterNotLeader: 10009,
  /** JSClusterNoPeersErr: no suitable peers for placement (a node of the group is down). */
  ClusterNoPeers: 10005,
  /** JSStreamReplicasNotSupportedErr: replicas > 1 on a server that is not clustered. */
  StreamReplicasNotSupported: 10074,
  /** JSInsufficientResourcesErr: fewer JetStream servers than replicas asked for. */
  InsufficientResources: 10023,
} as const;

/**
 * A request of {@linkcode FastRequester} that got no reply in time, or lost
 * its connection before the reply came: in a cluster, the usual sign of a
 * stream leader being re-elected. The request may or may not have run.
 */
export class NatsRequestTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NatsRequestTimeout";
  }
}

/** Nobody answers the subject (JetStream off, or a stream with no leader at that instant). */
export class NatsNoResponders extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NatsNoResponders";
  }
}

/** A JetStream API error from {@linkcode FastRequester}: `code` is the API's `err_code`. */
export class NatsApiError extends Error {
  readonly code: number;
  /**
   * For a conditional publish that lost (StreamWrongLastSequence), the
   * subject's last sequence now: the server gives it only in its description
   * ("wrong last sequence: 42"), read here once, where the reply is decoded.
   */
  readonly lastSequence?: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "NatsApiError";
    this.code = code;
    if (code === JetStreamApiCodes.StreamWrongLastSequence) {
      const last = Number(/: (\d+)$/.exec(message)?.[1]);
      if (Number.isSafeInteger(last)) this.lastSequence = last;
    }
  }
}

/** A message as {@linkcode FastRequester.directGet} returns it. */
export interface DirectMsg {
  seq: number;
  subject: string;
  data: Uint8Array;
}

interface Pending {
  subject: string;
  resolve: (m: NatsMsg) => void;
  reject: (e: Error) => void;
  deadline: number;
}

/**
 * Requests for the hot paths (publish, direct get, delete), multiplexed on
 * one inbox subscription with one sweeper timer for timeouts. The client's
 * own request path builds an Error (with a stack trace) and a timer for
 * every request, which cost a third of the CPU of a busy store.
 */
export class FastRequester {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;
  readonly #inbox = createInbox();
  readonly #pending = new Map<number, Pending>();
  readonly #sub: ReturnType<NatsConnection["subscribe"]>;
  #next = 0;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(nc: NatsConnection, timeoutMs: number) {
    this.#nc = nc;
    this.#timeoutMs = timeoutMs;
    const lead = this.#inbox.length + 1;
    this.#sub = nc.subscribe(`${this.#inbox}.*`, {
      callback: (_err, m) => {
        const id = Number(m.subject.slice(lead));
        const p = this.#pending.get(id);
        if (!p) return;
        this.#pending.delete(id);
        if (this.#pending.size === 0) this.#stopSweeper();
        p.resolve(m);
      },
    });
  }

  #stopSweeper(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** One request; rejects after the timeout (checked every 100 ms). */
  request(subject: string, data: Uint8Array | string, hdrs?: MsgHdrs): Promise<NatsMsg> {
    const id = ++this.#next;
    const { promise, resolve, reject } = Promise.withResolvers<NatsMsg>();
    this.#pending.set(id, { subject, resolve, reject, deadline: Date.now() + this.#timeoutMs });
    this.#sweeper ??= setInterval(() => {
      const now = Date.now();
      for (const [k, p] of this.#pending) {
        if (p.deadline <= now) {
          this.#pending.delete(k);
          p.reject(new NatsRequestTimeout(`timeout after ${this.#timeoutMs} ms (${subject})`));
        }
      }
      if (this.#pending.size === 0) this.#stopSweeper();
    }, 100);
    try {
      this.#nc.publish(subject, data, { reply: `${this.#inbox}.${id}`, headers: hdrs });
    } catch (e) {
      this.#pending.delete(id);
      return Promise.reject(e);
    }
    return promise;
  }

  /** A JSON API call; rejects with {@linkcode NatsApiError} on an API error. */
  async api<T>(subject: string, body: unknown): Promise<T> {
    const m = await this.request(subject, JSON.stringify(body));
    noResponders(m, subject);
    const r = m.json<T & { error?: { err_code?: number; code: number; description: string } }>();
    if (r.error) throw new NatsApiError(r.error.err_code ?? r.error.code, r.error.description);
    return r;
  }

  /** A JetStream publish: its stream sequence and whether it was a duplicate. */
  publish(
    subject: string,
    payload: string,
    msgId: string,
    expectLastSubjectSeq?: number,
  ): Promise<{ seq: number; duplicate: boolean }> {
    const h = natsHeaders();
    h.set("Nats-Msg-Id", msgId);
    if (expectLastSubjectSeq !== undefined) {
      h.set("Nats-Expected-Last-Subject-Sequence", String(expectLastSubjectSeq));
    }
    return this.request(subject, payload, h).then((m) => {
      noResponders(m, subject);
      const r = m.json<
        { seq: number; duplicate?: boolean; error?: { err_code: number; description: string } }
      >();
      if (r.error) throw new NatsApiError(r.error.err_code, r.error.description);
      return { seq: r.seq, duplicate: r.duplicate === true };
    });
  }

  /** Direct get (the stream needs `allow_direct`); null when no message matches. */
  async directGet(
    stream: string,
    query: { seq?: number; next_by_subj?: string; last_by_subj?: string },
  ): Promise<DirectMsg | null> {
    const m = await this.request(`$JS.API.DIRECT.GET.${stream}`, JSON.stringify(query));
    const code = m.headers?.code ?? 0;
    if (code === 404) return null;
    noResponders(m, stream);
    if (code !== 0) throw new NatsApiError(code, m.headers?.description || `status ${code}`);
    return {
      seq: Number(m.headers?.get("Nats-Sequence")),
      subject: m.headers?.get("Nats-Subject") ?? "",
      data: m.data,
    };
  }

  /**
   * Like {@linkcode directGet}, answered by the stream's leader (the
   * JetStream API's message get): in a replicated stream a direct get may be
   * answered by a follower that has not yet applied the latest writes, so a
   * wait woken for a new message could read the queue without it and sleep
   * on (seen in the cross-host bench: a message unseen for 10 s).
   */
  async leaderGet(
    stream: string,
    query: { seq?: number; next_by_subj?: string; last_by_subj?: string },
  ): Promise<DirectMsg | null> {
    try {
      const r = await this.api<{ message: { subject: string; seq: number; data?: string } }>(
        `$JS.API.STREAM.MSG.GET.${stream}`,
        query,
      );
      const b64 = r.message.data ?? "";
      const bin = atob(b64);
      const data = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) data[i] = bin.charCodeAt(i);
      return { seq: r.message.seq, subject: r.message.subject, data };
    } catch (e) {
      if (e instanceof NatsApiError && e.code === JetStreamApiCodes.NoMessageFound) return null;
      throw e;
    }
  }

  /** Deletes one message (no overwrite); false when it was not there. */
  async deleteMsg(stream: string, seq: number): Promise<boolean> {
    try {
      const r = await this.api<{ success: boolean }>(`$JS.API.STREAM.MSG.DELETE.${stream}`, {
        seq,
        no_erase: true,
      });
      return r.success;
    } catch (e) {
      // Both codes mean the message is not there: a failed delete ("no message
      // found", "stream store EOF" past the end), and a sequence deleted
      // already, which is what a replicated stream answers a retried ack whose
      // first delete its lost leader applied, or an ack racing another's.
      if (
        e instanceof NatsApiError && (e.code === MoreJetStreamApiCodes.StreamMsgDeleteFailed ||
          e.code === MoreJetStreamApiCodes.SequenceNotFound)
      ) {
        return false;
      }
      throw e;
    }
  }

  /**
   * Fails every pending request at once with {@linkcode NatsRequestTimeout}:
   * called when the connection drops, as their replies cannot come any more
   * (the server they went to is gone), so a caller that retries does so
   * after the reconnect, not after the full timeout.
   */
  failPending(why: string): void {
    this.#stopSweeper();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new NatsRequestTimeout(why));
  }

  /**
   * Fails the pending requests to `subject` with `error`: the server refused
   * this user the publish (a permissions violation), so no reply will come.
   */
  failSubject(subject: string, error: Error): void {
    for (const [id, p] of this.#pending) {
      if (p.subject !== subject) continue;
      this.#pending.delete(id);
      p.reject(error);
    }
    if (this.#pending.size === 0) this.#stopSweeper();
  }

  /** Fails what is pending and stops listening. */
  close(): void {
    this.#stopSweeper();
    for (const p of this.#pending.values()) p.reject(new Error("connection closed"));
    this.#pending.clear();
    this.#sub.unsubscribe();
  }
}

function noResponders(m: NatsMsg, what: string): void {
  if (m.headers?.code === 503) {
    throw new NatsNoResponders(
      `no responders for ${what}: is JetStream enabled (nats-server -js)?`,
    );
  }
}
