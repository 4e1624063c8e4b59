/**
 * Pure framing for the agent-ipc wire: `[4-byte big-endian length][UTF-8 JSON]`.
 * No I/O: {@linkcode FrameDecoder.push} takes bytes as they arrive and returns
 * the complete frames; {@linkcode encodeFrame} builds one frame. Lengths are
 * checked against the cap before anything is allocated.
 *
 * @module
 */

import { SETTINGS } from "../defaults.ts";

/** The default cap on one frame's payload: 1 MiB (`SETTINGS.maxFrame` in `defaults.ts`). */
export const DEFAULT_MAX_FRAME = SETTINGS.maxFrame.default;

/** What {@linkcode FrameDecoder.push} reports. */
export type FrameEvent =
  | { kind: "frame"; payload: Uint8Array }
  | {
    kind: "error";
    code: "E_BAD_FRAME";
    message: string;
    /** The frame cap, when the frame was over it. */
    limit?: number;
  };

const encoder = new TextEncoder();

/**
 * Encodes one value as a frame.
 *
 * @example
 * ```ts
 * const bytes = encodeFrame({ action: "ping" });
 * ```
 */
export function encodeFrame(value: unknown): Uint8Array {
  const body = encoder.encode(JSON.stringify(value));
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** Encodes a frame around an already encoded UTF-8 JSON payload. */
export function framePayload(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** Bytes a {@linkcode FrameWriter} buffer starts with. */
const WRITER_MIN = 4096;
/** The largest buffer a {@linkcode FrameWriter} keeps for reuse. */
const WRITER_KEEP = 256 * 1024;

/**
 * Frames waiting to be written, encoded straight into one buffer: no
 * allocation or copy per frame (allocating a small typed array costs more
 * than encoding the JSON into it, and feeds the garbage collector). The
 * transport writes what {@linkcode FrameWriter.take} returns, then gives the
 * bytes back with {@linkcode FrameWriter.release}: a busy writer swaps two
 * buffers, an idle one keeps at most one small buffer.
 *
 * @example
 * ```ts
 * const out = new FrameWriter();
 * out.push(JSON.stringify({ action: "ping" }));
 * const bytes = out.take();
 * await conn.write(bytes);
 * out.release(bytes);
 * ```
 */
export class FrameWriter {
  #buf: Uint8Array | null = null;
  #len = 0;
  #spare: Uint8Array | null = null;

  /** Bytes queued and not yet taken. */
  get length(): number {
    return this.#len;
  }

  /** Appends one frame holding `json` as UTF-8; returns the frame's size in bytes. */
  push(json: string): number {
    const at = this.#len;
    // Room for ASCII first; other text grows the buffer for what is left.
    let buf = this.#room(at + 4 + json.length, at);
    let { read, written } = encoder.encodeInto(json, buf.subarray(at + 4));
    while (read < json.length) {
      buf = this.#room(at + 4 + written + (json.length - read) * 3, at + 4 + written);
      const more = encoder.encodeInto(json.slice(read), buf.subarray(at + 4 + written));
      read += more.read;
      written += more.written;
    }
    buf[at] = written >>> 24;
    buf[at + 1] = (written >>> 16) & 0xff;
    buf[at + 2] = (written >>> 8) & 0xff;
    buf[at + 3] = written & 0xff;
    this.#len = at + 4 + written;
    return 4 + written;
  }

  /** Hands over the queued bytes (valid until given back); the writer starts empty. */
  take(): Uint8Array {
    const out = this.#buf === null ? new Uint8Array(0) : this.#buf.subarray(0, this.#len);
    this.#buf = null;
    this.#len = 0;
    return out;
  }

  /** Gives back bytes from {@linkcode FrameWriter.take} once written. */
  release(bytes: Uint8Array): void {
    // A large buffer is kept only while more frames are queued: an idle
    // connection holds at most one small buffer.
    const keep = this.#buf !== null ? WRITER_KEEP : WRITER_MIN;
    if (bytes.buffer.byteLength <= keep) this.#spare = new Uint8Array(bytes.buffer);
  }

  /** A buffer of at least `need` bytes holding the first `used` bytes queued. */
  #room(need: number, used: number): Uint8Array {
    const old = this.#buf;
    if (old !== null && need <= old.length) return old;
    let next: Uint8Array;
    if (old === null && this.#spare !== null && this.#spare.length >= need) {
      next = this.#spare;
    } else {
      next = new Uint8Array(Math.max(WRITER_MIN, need, (old?.length ?? 0) * 2));
      if (old !== null) next.set(old.subarray(0, used));
    }
    this.#spare = null;
    this.#buf = next;
    return next;
  }
}

/**
 * Incremental decoder of length-prefixed frames. Feed it chunks of any size
 * (one byte at a time works); it returns every frame completed by the chunk.
 * After an error the decoder is broken for good: the caller closes the
 * connection, since framing can no longer be trusted.
 *
 * Payloads returned are views that stay valid after later pushes (unless
 * constructed with `copy: false`).
 *
 * @example
 * ```ts
 * const decoder = new FrameDecoder(1024);
 * for (const event of decoder.push(chunk)) {
 *   if (event.kind === "frame") handle(event.payload);
 * }
 * ```
 */
export class FrameDecoder {
  #max: number;
  readonly #header = new Uint8Array(4);
  #headerFill = 0;
  #body: Uint8Array | null = null;
  #bodyFill = 0;
  #broken = false;
  readonly #copy: boolean;
  readonly #defer: boolean;

  /**
   * @param maxFrame the largest payload accepted, in bytes
   * @param options `copy: false` returns a frame that arrived whole in one
   * chunk as a view into that chunk (no copy), valid only until the chunk's
   * buffer is reused: for callers that consume each frame before their next read
   */
  constructor(
    maxFrame: number = DEFAULT_MAX_FRAME,
    options: { copy?: boolean; deferOversize?: boolean } = {},
  ) {
    this.#max = maxFrame;
    this.#copy = options.copy ?? true;
    this.#defer = options.deferOversize ?? false;
  }

  /** The largest payload accepted from the next frame header on. */
  get maxFrame(): number {
    return this.#max;
  }

  set maxFrame(bytes: number) {
    this.#max = bytes;
  }

  /** Bytes allocated for the frame being received (its declared length), or 0. */
  get allocated(): number {
    return this.#body?.length ?? 0;
  }

  /** Drops the frame being received and returns its buffer (the caller may free it). */
  release(): Uint8Array | null {
    const body = this.#body;
    this.#body = null;
    this.#bodyFill = 0;
    this.#broken = true;
    return body;
  }

  /** True while part of a frame has been received but not all of it. */
  get partial(): boolean {
    return this.#headerFill > 0 || this.#body !== null;
  }

  /** Bytes of the current partial frame held (header bytes while incomplete, then payload). */
  get buffered(): number {
    return this.#headerFill + this.#bodyFill;
  }

  /**
   * With `deferOversize`, a header over the cap stops `push` instead of
   * breaking the stream: {@linkcode deferredAt} is the index in that chunk just
   * past the header (-1 when nothing was deferred). The caller may raise
   * {@linkcode maxFrame} and push the rest of the chunk; the deferred frame is
   * judged again then (and refused if still over).
   */
  deferredAt = -1;
  #deferred = 0;

  /** Feeds bytes; returns the frames (and at most one error) they complete. */
  push(chunk: Uint8Array): FrameEvent[] {
    const events: FrameEvent[] = [];
    this.deferredAt = -1;
    if (this.#broken) return events;
    let pos = 0;
    const n = chunk.length;
    let resumed = this.#deferred;
    this.#deferred = 0;
    while (pos < n || resumed > 0) {
      if (this.#body === null) {
        // Fast path: a whole header sits in the chunk and nothing is pending.
        let length: number;
        const again = resumed > 0;
        if (again) {
          length = resumed;
          resumed = 0;
        } else if (this.#headerFill === 0 && n - pos >= 4) {
          length = ((chunk[pos] << 24) >>> 0) + (chunk[pos + 1] << 16) + (chunk[pos + 2] << 8) +
            chunk[pos + 3];
          pos += 4;
        } else {
          const take = Math.min(4 - this.#headerFill, n - pos);
          this.#header.set(chunk.subarray(pos, pos + take), this.#headerFill);
          this.#headerFill += take;
          pos += take;
          if (this.#headerFill < 4) break;
          length = new DataView(this.#header.buffer).getUint32(0);
        }
        this.#headerFill = 0;
        if (length === 0) {
          this.#broken = true;
          events.push({ kind: "error", code: "E_BAD_FRAME", message: "Frame length is 0" });
          return events;
        }
        if (length > this.#max && this.#defer && !again) {
          this.#deferred = length;
          this.deferredAt = pos;
          return events;
        }
        if (length > this.#max) {
          this.#broken = true;
          events.push({
            kind: "error",
            code: "E_BAD_FRAME",
            message: `Frame length "${length}" is over the limit of ${this.#max} bytes`,
            limit: this.#max,
          });
          return events;
        }
        if (n - pos >= length) {
          // Whole payload in this chunk: copy once so the view outlives the chunk
          // (unless the caller consumes it at once).
          const payload = this.#copy
            ? chunk.slice(pos, pos + length)
            : chunk.subarray(pos, pos + length);
          events.push({ kind: "frame", payload });
          pos += length;
          continue;
        }
        this.#body = new Uint8Array(length);
        this.#bodyFill = 0;
      }
      const body = this.#body;
      const take = Math.min(body.length - this.#bodyFill, n - pos);
      body.set(chunk.subarray(pos, pos + take), this.#bodyFill);
      this.#bodyFill += take;
      pos += take;
      if (this.#bodyFill === body.length) {
        events.push({ kind: "frame", payload: body });
        this.#body = null;
        this.#bodyFill = 0;
      }
    }
    return events;
  }
}

/**
 * Finds the end of one JSON object in a byte stream, for legacy connections
 * (the original's clients send one object with no length, no newline and no
 * half-close). Tracks strings and escapes, so braces inside strings do not
 * count. Works on UTF-8 bytes: every structural character is ASCII.
 */
export class JsonObjectScanner {
  #depth = 0;
  #inString = false;
  #escape = false;
  #started = false;
  #length = 0;

  /** Bytes scanned so far. */
  get length(): number {
    return this.#length;
  }

  /**
   * Scans `chunk`; returns the index in `chunk` just past the object's closing
   * brace, or -1 when the object is not complete yet. Throws a `SyntaxError`
   * when the stream cannot be one JSON object (it does not start with `{`).
   */
  scan(chunk: Uint8Array): number {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      this.#length++;
      if (!this.#started) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        if (c !== 0x7b) throw new SyntaxError('Legacy request does not start with "{"');
        this.#started = true;
        this.#depth = 1;
        continue;
      }
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (c === 0x5c) this.#escape = true;
        else if (c === 0x22) this.#inString = false;
        continue;
      }
      if (c === 0x22) this.#inString = true;
      else if (c === 0x7b || c === 0x5b) this.#depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.#depth--;
        if (this.#depth === 0) return i + 1;
      }
    }
    return -1;
  }
}
