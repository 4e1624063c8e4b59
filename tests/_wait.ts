/**
 * Waiting in tests on a condition instead of a fixed delay: the wait ends as
 * soon as the condition holds (fast when the machine is fast) and fails with
 * a message naming what never happened (instead of a flaky assertion later
 * when the machine is slow).
 *
 * @module
 */

/** `T` without its falsy members: what a {@linkcode waitFor} probe returns once it holds. */
export type Truthy<T> = Exclude<T, false | null | undefined | 0 | "" | 0n>;

/** How long and how often {@linkcode waitFor} looks. */
export interface WaitOptions {
  /** Give up after this many milliseconds (default 10 000). */
  timeout?: number;
  /** Milliseconds between looks (default 5). */
  interval?: number;
  /** What is awaited, for the timeout's message. */
  what?: string;
}

/**
 * Resolves with the first truthy value `probe` returns (it may be async),
 * looking every `interval` ms; rejects after `timeout` ms. A probe that throws
 * counts as "not yet" until the last look, whose error is reported.
 *
 * @example
 * ```ts
 * await waitFor(() => broker.service.waiters.size > 0, { what: "the wait to park" });
 * const line = await waitFor(() => log.find((l) => l.includes("listening")));
 * ```
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Truthy<T>> {
  const { timeout = 10_000, interval = 5, what = "a condition" } = options;
  const deadline = performance.now() + timeout;
  let lastError: unknown;
  while (true) {
    try {
      const value = await probe();
      if (value) return value as Truthy<T>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() >= deadline) {
      const cause = lastError === undefined ? "" : ` (last error: ${lastError})`;
      throw new Error(`Timed out after ${timeout} ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/**
 * Resolves with `read()` once it has stopped changing for `quietMs` (a stall:
 * a writer the other side no longer reads, a count that stopped growing);
 * `onRead` sees every value on the way, e.g. to keep the largest.
 *
 * @example
 * ```ts
 * const stalledAt = await steady(() => written, { quietMs: 300 });
 * ```
 */
export async function steady<T>(
  read: () => T,
  options: WaitOptions & { quietMs?: number; onRead?: (value: T) => void } = {},
): Promise<T> {
  const { quietMs = 200, onRead } = options;
  let last = read();
  let since = performance.now();
  return await waitFor(() => {
    const value = read();
    onRead?.(value);
    if (value !== last) {
      last = value;
      since = performance.now();
      return false;
    }
    return performance.now() - since >= quietMs && { value };
  }, { what: "a value to stop changing", ...options }).then((r) => r.value);
}

/**
 * A clock a test moves by hand, for code that takes `now: () => number`.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * await using tb = await testBroker({ now: clock.now });
 * clock.advance(1_001); // a second passes, instantly
 * ```
 */
export class ManualClock {
  #time: number;
  constructor(start: number = Date.now()) {
    this.#time = start;
  }
  /** The current time in ms; bound, so it can be passed as is. */
  readonly now = (): number => this.#time;
  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.#time += ms;
  }
}
