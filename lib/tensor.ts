import { types } from 'util';
import { codes, describe, guarded, rangeError, typeError } from './errors';

/** A dense row-major float32 tensor. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
}

/** Nested arrays of numbers, any depth (a plain number is a 0-D tensor). */
export type Nested = number | Nested[];

/** Builds a Tensor from nested number arrays: tensor([[1, 2], [3, 4]]) has shape [2, 2]. */
export function tensor(nested: Nested): Tensor {
  return guarded('tensor: nested', () => tensorUnguarded(nested));
}

function tensorUnguarded(nested: Nested): Tensor {
  const shape: number[] = [];
  for (let v: unknown = nested; Array.isArray(v); v = v[0]) {
    if (v.length === 0) throw rangeError(codes.INVALID_SHAPE, `tensor: empty array at depth ${shape.length}`);
    if (shape.length === MAX_RANK) throw rangeError(codes.INVALID_SHAPE, `tensor: nested deeper than ${MAX_RANK} levels`);
    shape.push(v.length);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > MAX_ELEMENTS) {
    throw rangeError(codes.TOO_LARGE, `tensor: shape [${shape.join(', ')}] has ${size} elements, more than the limit of ${MAX_ELEMENTS}`);
  }
  const data = new Float32Array(size);
  let at = 0;
  const walk = (v: unknown, depth: number, where: string): void => {
    if (depth === shape.length) {
      if (typeof v !== 'number') throw typeError(`tensor: element ${where || '(root)'}`, 'a number', v);
      data[at++] = v;
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw rangeError(
        codes.INVALID_SHAPE,
        `tensor: ragged nested array: ${where || '(root)'} must be an array of length ${shape[depth]}, got ` +
          (Array.isArray(v) ? `length ${v.length}` : typeof v),
      );
    }
    for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${where}[${i}]`);
  };
  walk(nested, 0, '');
  return { data, shape };
}

/** Converts a Tensor back to nested number arrays. */
export function toNested(t: Tensor): Nested {
  t = readTensor(t, 't'); // a snapshot: each property read once
  if (t.shape.length === 0) return t.data[0];
  const build = (depth: number, offset: number): Nested[] => {
    const n = t.shape[depth];
    const stride = t.shape.slice(depth + 1).reduce((a, b) => a * b, 1);
    const out: Nested[] = new Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = depth === t.shape.length - 1 ? t.data[offset + i] : build(depth + 1, offset + i * stride);
    }
    return out;
  };
  return build(0, 0);
}

const MAX_ELEMENTS = 2 ** 31 - 1;
const MAX_RANK = 64;

// The intrinsic TypedArray getters: a subclass or an own property cannot fake a length or a buffer.
const typedArrayProto = Object.getPrototypeOf(Float32Array.prototype) as object;
const lengthOf = Object.getOwnPropertyDescriptor(typedArrayProto, 'length')!.get! as (this: unknown) => number;
const bufferOf = Object.getOwnPropertyDescriptor(typedArrayProto, 'buffer')!.get! as (this: unknown) => ArrayBufferLike;

/** Whether `v` is a real Float32Array (from any realm; a Proxy or a look-alike object is not). */
export function isFloat32Array(v: unknown): v is Float32Array {
  return types.isFloat32Array(v);
}

/**
 * Checks that `v` is a Float32Array over a live (not detached) buffer; returns its real length.
 * SharedArrayBuffer-backed and resizable-buffer-backed arrays are accepted.
 */
export function checkFloat32Array(v: unknown, name: string): number {
  if (!isFloat32Array(v)) throw typeError(name, 'a Float32Array', v);
  const n = lengthOf.call(v);
  if (n === 0) {
    // A detached buffer reads as length 0; constructing a view over it throws.
    try {
      new Uint8Array(bufferOf.call(v));
    } catch {
      throw typeError(name, 'a Float32Array over a live buffer', 'one whose ArrayBuffer is detached (transferred)');
    }
  }
  return n;
}

/**
 * Reads a shape: an array of integers >= 1 whose rank is in `ranks` (when given). Returns a copy,
 * each entry read once. Throws TypeError / RangeError naming `name`.
 */
export function readShape(shape: unknown, name: string, ranks?: readonly number[]): number[] {
  return guarded(name, () => {
    if (!Array.isArray(shape)) throw typeError(name, 'an array of integers', shape);
    const rank = shape.length;
    if ((ranks && !ranks.includes(rank)) || rank > MAX_RANK) {
      throw rangeError(
        codes.INVALID_SHAPE,
        `${name} must have rank ${ranks ? ranks.join(' or ') : `<= ${MAX_RANK}`}, got rank ${rank} (${describe(shape)})`,
      );
    }
    const dims: number[] = new Array(rank);
    for (let i = 0; i < rank; i++) {
      const d: unknown = shape[i]; // a hole reads as undefined: a TypeError below
      if (typeof d !== 'number') throw typeError(`${name}[${i}]`, 'an integer', d);
      if (!Number.isInteger(d) || d < 1) {
        throw rangeError(codes.INVALID_SHAPE, `${name}[${i}] must be an integer >= 1, got ${describe(d)}`);
      }
      if (d > MAX_ELEMENTS) {
        throw rangeError(codes.TOO_LARGE, `${name}[${i}] must be <= ${MAX_ELEMENTS}, got ${describe(d)}`);
      }
      dims[i] = d;
    }
    return dims;
  });
}

/**
 * Reads a Tensor: a Float32Array `data` and a `shape` of positive integers whose product is
 * data.length. `ranks` limits the rank. Never converts: a Float64Array or plain array is a TypeError.
 * Returns a snapshot ({ data, shape copy }): each property is read once.
 */
export function readTensor(t: unknown, name: string, ranks?: readonly number[]): Tensor {
  const { data, shape } = guarded(name, () => {
    if (typeof t !== 'object' || t === null || Array.isArray(t) || ArrayBuffer.isView(t)) {
      throw typeError(name, 'a Tensor ({ data: Float32Array, shape: number[] })', t);
    }
    const o = t as { data: unknown; shape: unknown };
    return { data: o.data, shape: o.shape };
  });
  const length = checkFloat32Array(data, `${name}.data`);
  const dims = readShape(shape, `${name}.shape`, ranks);
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== length) {
    throw rangeError(
      codes.INVALID_SHAPE,
      `${name}.data has ${length} elements but ${name}.shape [${dims.join(', ')}] needs ${size}`,
    );
  }
  return { data: data as Float32Array, shape: dims };
}
