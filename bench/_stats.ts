/**
 * Small statistics helpers of the benchmark: latency samples, percentiles
 * and rounding for the report.
 *
 * @module
 */

/** A growable list of latency samples, in milliseconds. */
export class Samples {
  #data = new Float64Array(1024);
  #n = 0;

  /** Number of samples. */
  get count(): number {
    return this.#n;
  }

  /** Adds one sample. */
  add(ms: number): void {
    if (this.#n === this.#data.length) {
      const next = new Float64Array(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.#n++] = ms;
  }

  /** The `p`-th percentile (0-100), nearest rank; null with no samples. */
  percentile(p: number): number | null {
    if (this.#n === 0) return null;
    const sorted = this.#data.slice(0, this.#n).sort();
    const rank = Math.min(this.#n - 1, Math.max(0, Math.ceil((p / 100) * this.#n) - 1));
    return sorted[rank];
  }

  /** The samples, in the order they were added. */
  values(): number[] {
    return Array.from(this.#data.subarray(0, this.#n));
  }

  /** p50, p99 and max in one sort. */
  summary(): LatencySummary {
    if (this.#n === 0) return { count: 0, p50: null, p99: null, max: null };
    const sorted = this.#data.slice(0, this.#n).sort();
    const at = (p: number) =>
      sorted[Math.min(this.#n - 1, Math.max(0, Math.ceil((p / 100) * this.#n) - 1))];
    return {
      count: this.#n,
      p50: round(at(50), 3),
      p99: round(at(99), 3),
      max: round(sorted[this.#n - 1], 3),
    };
  }
}

/** Percentiles of a set of latencies, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
