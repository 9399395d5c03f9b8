// Types of panels.js for TypeScript callers (examples/lenet).
import type { Canvas, Rgb } from './image';
export const BG: Rgb;
export const INK: Rgb;
export const DIM: Rgb;
export const GAP: number;
export const MARGIN: number;
export function diverging(t: number): Rgb;
/** A line of a label: [text, colour, scale]. */
export type Line = [string, Rgb, number];
export interface Panel {
  lines: Line[];
  draw(img: Canvas, x: number, y: number): void;
  foot?(img: Canvas, x: number, y: number): void;
}
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}
export function grid(panels: Panel[], cols: number, pw: number, ph: number, header: Line[], footH?: number): { img: Canvas; rects: Rect[] };
export function fit(text: string, width: number, scale: number): string;
export function slices(img: Canvas, x: number, y: number, o: {
  count: number;
  kh: number;
  kw: number;
  tile: number;
  value: (i: number, row: number, col: number) => number;
  labels?: string[];
}): { tiles: { x: number; y: number; size: number }[]; end: number };
