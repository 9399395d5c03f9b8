// Types of svg.js for TypeScript callers (examples/lenet draws its training curves with these helpers).
/** A round axis step giving about 5 to 10 ticks up to `max`. */
export function niceStep(max: number): number;
/** Escapes text for SVG/XML. */
export function esc(s: unknown): string;
export function chart(report: unknown): string;
