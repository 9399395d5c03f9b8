// Where a training epoch's time goes: each step's parts are timed and summed by name.

/** The parts of a step: channelconv's calls (conv, dense) and the example's own TypeScript. */
export const CHANNELCONV_PARTS = ['conv forward', 'conv backward', 'dense forward', 'dense backward'] as const;
export const OWN_PARTS = ['pooling', 'relu + loss', 'optimiser', 'batching'] as const;
export type Part = (typeof CHANNELCONV_PARTS)[number] | (typeof OWN_PARTS)[number];

export class Profile {
  /** Milliseconds per part since the last reset. */
  ms: Record<Part, number> = Profile.zero();

  private static zero(): Record<Part, number> {
    return Object.fromEntries([...CHANNELCONV_PARTS, ...OWN_PARTS].map((p) => [p, 0])) as Record<Part, number>;
  }

  /** Runs fn, adding its wall time to `part`. */
  time<T>(part: Part, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.ms[part] += performance.now() - t0;
    }
  }

  reset(): void {
    this.ms = Profile.zero();
  }

  /** Milliseconds in channelconv calls. */
  get channelconvMs(): number {
    return CHANNELCONV_PARTS.reduce((s, p) => s + this.ms[p], 0);
  }
}
