// Types of font.js for TypeScript callers (examples/lenet).
import type { Canvas, Rgb } from './image';
export function drawText(img: Canvas, text: string, x: number, y: number, rgb: Rgb, scale?: number): void;
export function textWidth(text: string, scale?: number): number;
export function textHeight(scale?: number): number;
export const GLYPH_W: number;
export const GLYPH_H: number;
export const glyphs: string[];
