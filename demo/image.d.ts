// Types of image.js for TypeScript callers (examples/lenet).
export type Rgb = [number, number, number] | number[];
/** An RGBA canvas: data is width × height × 4 bytes. */
export interface Canvas {
  width: number;
  height: number;
  data: Buffer;
}
export interface Planar {
  width: number;
  height: number;
  data: Float32Array;
}
export function planar(width: number, height: number): Planar;
export function canvas(width: number, height: number, rgb?: Rgb): Canvas;
export function fillRect(img: Canvas, x: number, y: number, w: number, h: number, rgb: Rgb): void;
export function paint(img: Canvas, x: number, y: number, width: number, height: number, scale: number, pixel: (sx: number, sy: number) => Rgb): void;
export function encodePng(img: Canvas): Buffer;
export function readImage(file: string): { image: Planar; format: 'png' | 'jpeg' };
export function fitWithin(img: Planar, maxSide: number): Planar;
export function sniff(buf: Buffer): 'png' | 'jpeg' | null;
