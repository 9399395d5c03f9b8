// A minimal protobuf writer, just enough to encode an ONNX model with one Conv node whose weight (and
// bias) are initializers: the way a real model hands them to onnxruntime. Field numbers are from
// onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto).
'use strict';

// Wire types: 0 varint, 2 length-delimited.
function varint(n) {
  const out = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // int64 two's complement
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const vint = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
const bytes = (field, buf) => Buffer.concat([key(field, 2), varint(buf.length), buf]);
const str = (field, s) => bytes(field, Buffer.from(s, 'utf8'));
const msg = (field, parts) => bytes(field, Buffer.concat(parts));

const FLOAT = 1; // TensorProto.DataType
const ATTR_INT = 2; // AttributeProto.AttributeType
const ATTR_INTS = 7;

function attrInt(name, v) {
  return msg(5, [str(1, name), vint(3, v), vint(20, ATTR_INT)]);
}
function attrInts(name, vs) {
  return msg(5, [str(1, name), ...vs.map((v) => vint(8, v)), vint(20, ATTR_INTS)]);
}
function tensor(field, name, dims, data) {
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength); // little-endian float32
  return msg(field, [...dims.map((d) => vint(1, d)), vint(2, FLOAT), str(8, name), bytes(9, raw)]);
}
function valueInfo(field, name, dims) {
  const shape = msg(2, dims.map((d) => msg(1, [vint(1, d)])));
  return msg(field, [str(1, name), msg(2, [msg(1, [vint(1, FLOAT), shape])])]);
}

/**
 * An ONNX model computing Y = Conv(X, W, B): X [N, C, H, W] input, W [K, C/groups, KH, KW] and B [K]
 * initializers, explicit symmetric padding; or, with op 'ConvTranspose', Y = ConvTranspose(X, W, B)
 * with W [C, K/groups, KH, KW] (IOHW) and output_padding. Returns the serialized ModelProto.
 */
function convModel({ op = 'Conv', inputShape, weight, weightShape, bias, outputShape, stride, pad, groups, outputPadding = 0 }) {
  const [, , KH, KW] = weightShape;
  const node = msg(1, [
    str(1, 'X'), str(1, 'W'), ...(bias ? [str(1, 'B')] : []),
    str(2, 'Y'),
    str(3, 'conv'),
    str(4, op),
    attrInts('kernel_shape', [KH, KW]),
    attrInts('strides', [stride, stride]),
    attrInts('pads', [pad, pad, pad, pad]), // [top, left, bottom, right]
    attrInts('dilations', [1, 1]),
    attrInt('group', groups),
    ...(op === 'ConvTranspose' && outputPadding ? [attrInts('output_padding', [outputPadding, outputPadding])] : []),
  ]);
  const graph = msg(7, [
    node,
    str(2, 'channelconv_bench'),
    tensor(5, 'W', weightShape, weight),
    ...(bias ? [tensor(5, 'B', [bias.length], bias)] : []),
    valueInfo(11, 'X', inputShape),
    valueInfo(12, 'Y', outputShape),
  ]);
  return Buffer.concat([
    vint(1, 8), // ir_version 8
    str(2, 'channelconv'), // producer_name
    graph,
    msg(8, [str(1, ''), vint(2, 13)]), // opset_import: default domain, opset 13
  ]);
}

module.exports = { convModel, varint };
