import { codes, rangeError, typeError } from './errors';

/** A dense row-major float32 tensor. */
export interface Tensor {
  data: Float32Array;
  shape: number[];
}

/** Nested arrays of numbers, any depth (a plain number is a 0-D tensor). */
export type Nested = number | Nested[];

/** Builds a Tensor from nested number arrays: tensor([[1, 2], [3, 4]]) has shape [2, 2]. */
export function tensor(nested: Nested): Tensor {
  const shape: number[] = [];
  for (let v: unknown = nested; Array.isArray(v); v = v[0]) {
    if (v.length === 0) throw rangeError(codes.INVALID_SHAPE, `tensor: empty array at depth ${shape.length}`);
    shape.push(v.length);
  }
  const size = shape.reduce((a, b) => a * b, 1);
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
  checkTensor(t, 't');
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

/** Checks a shape: an array of integers >= 1 whose rank is in `ranks` (when given). Returns its size. */
export function checkShape(shape: unknown, name: string, ranks?: readonly number[]): number {
  if (!Array.isArray(shape)) throw typeError(name, 'an array of integers', shape);
  if (ranks && !ranks.includes(shape.length)) {
    throw rangeError(
      codes.INVALID_SHAPE,
      `${name} must have rank ${ranks.join(' or ')}, got rank ${shape.length} ([${shape.join(', ')}])`,
    );
  }
  let size = 1;
  shape.forEach((d: unknown, i: number) => {
    if (typeof d !== 'number') throw typeError(`${name}[${i}]`, 'an integer', d);
    if (!Number.isInteger(d) || d < 1) {
      throw rangeError(codes.INVALID_SHAPE, `${name}[${i}] must be an integer >= 1, got ${d}`);
    }
    size *= d;
  });
  return size;
}

/**
 * Checks that `t` is a Tensor: a Float32Array `data` and a `shape` of positive integers whose product
 * is data.length. `ranks` limits the rank. Never converts: a Float64Array or plain array is a TypeError.
 */
export function checkTensor(t: unknown, name: string, ranks?: readonly number[]): asserts t is Tensor {
  if (typeof t !== 'object' || t === null || Array.isArray(t) || ArrayBuffer.isView(t)) {
    throw typeError(name, 'a Tensor ({ data: Float32Array, shape: number[] })', t);
  }
  const { data, shape } = t as { data: unknown; shape: unknown };
  if (!(data instanceof Float32Array)) throw typeError(`${name}.data`, 'a Float32Array', data);
  const size = checkShape(shape, `${name}.shape`, ranks);
  if (size !== data.length) {
    throw rangeError(
      codes.INVALID_SHAPE,
      `${name}.data has ${data.length} elements but ${name}.shape [${(shape as number[]).join(', ')}] needs ${size}`,
    );
  }
}
