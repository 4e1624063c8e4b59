/**
 * Blocked `wait` and `wait_reply` requests, indexed by what they wait for (any
 * message for a name, or a reply to one message id for a name), with their
 * deadlines in one min-heap served by a single timer: many thousands of
 * waiters cost one index entry and one heap slot each, no timer or thread of
 * their own, and a message wakes only the waiters it can satisfy (a wake of
 * every waiter of a name, each re-registering and querying the store, made
 * 150 messages to an agent with 4,000 pending `wait_reply` take 13 s).
 *
 * @module
 */

/** One blocked receive. */
export interface Waiter {
  name: string;
  /** Set for a `wait_reply`: only a message replying to this id wakes it. */
  replyTo?: string;
  deadline: number;
  /** Called once: `true` when woken by a message, `false` on timeout. */
  settle(woken: boolean): void;
  /** Set once settled or cancelled. */
  done?: boolean;
}

/** The waiters of one name: for any message, and per awaited reply. */
interface NameWaiters {
  any: Set<Waiter>;
  replies: Map<string, Set<Waiter>>;
}

/** The set of blocked waits. */
export class WaiterRegistry {
  readonly #byName = new Map<string, NameWaiters>();
  #heap: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #size = 0;

  /** Number of waiters not yet settled. */
  get size(): number {
    return this.#size;
  }

  /** Entries in the deadline heap, cancelled ones not yet dropped included (tests). */
  get heapLength(): number {
    return this.#heap.length;
  }

  /** Adds a waiter; returns a function that cancels it (without settling). */
  add(waiter: Waiter): () => void {
    this.#index(waiter);
    this.#size++;
    this.#compact();
    this.#push(waiter);
    this.#arm();
    return () => this.#remove(waiter);
  }

  /**
   * A message for `name` was queued: settles, as woken, every waiter of
   * `name` for any message and, when the message replies to `replyTo`, the
   * waiters of that reply. Nobody else is touched.
   */
  wake(name: string, replyTo?: string): void {
    const entry = this.#byName.get(name);
    if (!entry) return;
    if (entry.any.size === 0 && (replyTo === undefined || !entry.replies.has(replyTo))) return;
    const woken: Waiter[] = [...entry.any];
    entry.any.clear();
    if (replyTo !== undefined) {
      const set = entry.replies.get(replyTo);
      if (set) {
        entry.replies.delete(replyTo);
        woken.push(...set);
      }
    }
    if (entry.replies.size === 0) this.#byName.delete(name);
    this.#wake(woken);
  }

  /** Settles every waiter of `name`, replies awaited included (a wake-up whose messages are unknown). */
  wakeAll(name: string): void {
    const entry = this.#byName.get(name);
    if (!entry) return;
    this.#byName.delete(name);
    const woken: Waiter[] = [...entry.any];
    for (const set of entry.replies.values()) woken.push(...set);
    this.#wake(woken);
  }

  /** True when someone waits for `name` (for any message or a reply). */
  has(name: string): boolean {
    const entry = this.#byName.get(name);
    return entry !== undefined && (entry.any.size > 0 || entry.replies.size > 0);
  }

  /** Moves waiters of `from` to `to` (after a rename); their deadlines stay. */
  rename(from: string, to: string): void {
    const entry = this.#byName.get(from);
    if (!entry) return;
    this.#byName.delete(from);
    for (const w of entry.any) {
      w.name = to;
      this.#index(w);
    }
    for (const set of entry.replies.values()) {
      for (const w of set) {
        w.name = to;
        this.#index(w);
      }
    }
  }

  /** Settles everybody as timed out and stops the timer (shutdown). */
  clear(): void {
    const all: Waiter[] = [];
    for (const entry of this.#byName.values()) {
      all.push(...entry.any);
      for (const set of entry.replies.values()) all.push(...set);
    }
    this.#byName.clear();
    this.#size = 0;
    this.#heap = [];
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    for (const w of all) {
      w.done = true;
      w.settle(false);
    }
  }

  #index(w: Waiter): void {
    let entry = this.#byName.get(w.name);
    if (!entry) this.#byName.set(w.name, entry = { any: new Set(), replies: new Map() });
    if (w.replyTo === undefined) {
      entry.any.add(w);
      return;
    }
    let set = entry.replies.get(w.replyTo);
    if (!set) entry.replies.set(w.replyTo, set = new Set());
    set.add(w);
  }

  /** Settles `woken` (already taken out of the index) as woken. */
  #wake(woken: Waiter[]): void {
    this.#size -= woken.length;
    for (const w of woken) {
      w.done = true;
      w.settle(true);
    }
  }

  #remove(w: Waiter): void {
    if (w.done) return;
    w.done = true;
    this.#size--;
    const entry = this.#byName.get(w.name);
    if (entry) {
      if (w.replyTo === undefined) entry.any.delete(w);
      else {
        const set = entry.replies.get(w.replyTo);
        if (set) {
          set.delete(w);
          if (set.size === 0) entry.replies.delete(w.replyTo);
        }
      }
      if (entry.any.size === 0 && entry.replies.size === 0) this.#byName.delete(w.name);
    }
    // Left in the heap; skipped when it surfaces (lazy deletion). Cancelled
    // waiters are dropped from the heap when they outnumber the live ones,
    // so cancel-and-retry churn cannot grow it without bound.
    this.#compact();
  }

  #compact(): void {
    if (this.#heap.length <= 64 || this.#heap.length <= 2 * this.#size) return;
    const live = this.#heap.filter((w) => !w.done);
    this.#heap = [];
    for (const w of live) this.#push(w);
  }

  #push(w: Waiter): void {
    const h = this.#heap;
    h.push(w);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].deadline <= h[i].deadline) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  #pop(): Waiter | undefined {
    const h = this.#heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && h[l].deadline < h[m].deadline) m = l;
        if (r < h.length && h[r].deadline < h[m].deadline) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }

  #arm(): void {
    while (this.#heap.length > 0 && this.#heap[0].done) this.#pop();
    const next = this.#heap[0];
    if (!next) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
      return;
    }
    if (next.deadline >= this.#timerAt && this.#timer !== undefined) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = next.deadline;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, next.deadline - Date.now()));
  }

  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = Date.now();
    while (this.#heap.length > 0 && (this.#heap[0].done || this.#heap[0].deadline <= now)) {
      const w = this.#pop()!;
      if (w.done) continue;
      this.#remove(w);
      w.settle(false);
    }
    this.#arm();
  }
}
