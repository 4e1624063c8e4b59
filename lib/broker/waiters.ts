/**
 * Blocked `wait` requests, by instance name, with their deadlines in one
 * min-heap served by a single timer: many thousands of waiters cost one map
 * entry and one heap slot each, no timer or thread of their own.
 *
 * @module
 */

/** One blocked receive. */
export interface Waiter {
  name: string;
  deadline: number;
  /** Called once: `true` when woken by a message, `false` on timeout. */
  settle(woken: boolean): void;
  /** Set once settled or cancelled. */
  done?: boolean;
}

/** The set of blocked waits. */
export class WaiterRegistry {
  readonly #byName = new Map<string, Set<Waiter>>();
  #heap: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  /** Number of waiters not yet settled. */
  get size(): number {
    let n = 0;
    for (const set of this.#byName.values()) n += set.size;
    return n;
  }

  /** Adds a waiter; returns a function that cancels it (without settling). */
  add(waiter: Waiter): () => void {
    let set = this.#byName.get(waiter.name);
    if (!set) this.#byName.set(waiter.name, set = new Set());
    set.add(waiter);
    this.#push(waiter);
    this.#arm();
    return () => this.#remove(waiter);
  }

  /** Settles every waiter of `name` as woken. */
  wake(name: string): void {
    const set = this.#byName.get(name);
    if (!set) return;
    this.#byName.delete(name);
    for (const w of set) {
      w.done = true;
      w.settle(true);
    }
  }

  /** True when someone waits for `name`. */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** Moves waiters of `from` to `to` (after a rename). */
  rename(from: string, to: string): void {
    const set = this.#byName.get(from);
    if (!set) return;
    this.#byName.delete(from);
    for (const w of set) {
      w.name = to;
      this.add(w);
    }
  }

  /** Settles everybody as timed out and stops the timer (shutdown). */
  clear(): void {
    const all = [...this.#byName.values()].flatMap((s) => [...s]);
    this.#byName.clear();
    this.#heap = [];
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    for (const w of all) {
      w.done = true;
      w.settle(false);
    }
  }

  #remove(w: Waiter): void {
    if (w.done) return;
    w.done = true;
    const set = this.#byName.get(w.name);
    if (set) {
      set.delete(w);
      if (set.size === 0) this.#byName.delete(w.name);
    }
    // Left in the heap; skipped when it surfaces (lazy deletion).
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
