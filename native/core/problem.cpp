#include "problem.h"

#include <sstream>

#include "error.h"

namespace cc {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

void require_dim(const std::string& name, int64_t v) {
  if (v < 1) throw_range(codes::kInvalidShape, name + " must be >= 1, got " + str(v));
  if (v > kMaxTensorElements)
    throw_range(codes::kTooLarge, name + " must be <= " + str(kMaxTensorElements) + ", got " + str(v));
}

// Product of four positive dims, each already <= kMaxTensorElements; throws when it passes the limit.
int64_t checked_count(const char* what, int64_t a, int64_t b, int64_t c, int64_t d) {
  __int128 p = (__int128)a * b;
  p *= c;
  p *= d;
  if (p > kMaxTensorElements) {
    std::ostringstream m;
    m << what << " has " << a << "*" << b << "*" << c << "*" << d << " elements, more than the limit of "
      << kMaxTensorElements;
    throw_range(codes::kTooLarge, m.str());
  }
  return (int64_t)p;
}

void require_option(const std::string& name, int64_t v, int64_t lo) {
  if (v < lo) throw_range(codes::kInvalidOption, name + " must be >= " + str(lo) + ", got " + str(v));
  if (v > kMaxTensorElements)
    throw_range(codes::kInvalidOption, name + " must be <= " + str(kMaxTensorElements) + ", got " + str(v));
}

// Rows of a forward output: how many kernel positions fit the padded input.
int64_t out_size(int64_t in, int64_t pb, int64_t pa, int64_t k, int64_t stride, int64_t dil) {
  const int64_t span = dil * (k - 1) + 1;  // receptive field of one output pixel
  const int64_t padded = in + pb + pa;
  if (padded < span) return 0;
  return (padded - span) / stride + 1;
}

const char* const kAxis[2] = {"height", "width"};

// "; the input's last dimension is 3: if it is NHWC, pass layout: 'NHWC'" when the other layout
// would have given the expected channel count.
std::string layout_hint(const ConvRequest& r, int64_t expected) {
  const int o = r.rank == 4 ? 1 : 0;
  if (r.layout == Layout::NCHW && r.input[o + 2] == expected)
    return "; the input's last dimension is " + str(expected) + ": if the input is NHWC, pass layout: 'NHWC'";
  if (r.layout == Layout::NHWC && r.input[o] == expected)
    return "; input.shape[" + str(o) + "] is " + str(expected) +
           ": if the input is NCHW, pass layout: 'NCHW' (the default)";
  return "";
}

}  // namespace

const char* direction_name(Direction d) {
  switch (d) {
    case Direction::Forward: return "forward";
    case Direction::BackwardData: return "backward_data";
    case Direction::BackwardWeights: return "backward_weights";
  }
  return "?";
}

void same_padding(int64_t in, int64_t k, int64_t stride, int64_t dil, bool lower, int64_t* before,
                  int64_t* after) {
  const int64_t out = (in + stride - 1) / stride;
  int64_t total = (out - 1) * stride + dil * (k - 1) + 1 - in;
  if (total < 0) total = 0;
  const int64_t small = total / 2, big = total - small;
  *before = lower ? big : small;
  *after = lower ? small : big;
}

ConvProblem resolve(const ConvRequest& r) {
  const bool nhwc = r.layout == Layout::NHWC, transpose = r.op == Op::Transpose;
  if (r.rank != 3 && r.rank != 4)
    throw_range(codes::kInvalidShape, "input.shape must have rank 3 or 4, got rank " + str(r.rank));
  const int o = r.rank == 4 ? 1 : 0;
  // The input as the caller gave it: batch, channels, height, width.
  const int64_t n = o ? r.input[0] : 1;
  const int ci = nhwc ? o + 2 : o, hi = nhwc ? o : o + 1, wi = hi + 1;
  const int64_t c = r.input[ci], h = r.input[hi], w = r.input[wi];
  const std::string cname = "input.shape[" + str(ci) + "]";
  require_dim("input batch (input.shape[0])", n);
  require_dim("input channels (" + cname + ")", c);
  require_dim("input height (input.shape[" + str(hi) + "])", h);
  require_dim("input width (input.shape[" + str(wi) + "])", w);
  // The forward weight: OIHW [Cout, Cg, KH, KW] (IOHW of a transposed conv) or HWIO (HWOI).
  const bool hwio = r.weight_layout == WeightLayout::HWIO;
  const int io = hwio ? 3 : 0, ii = hwio ? 2 : 1;
  const int64_t wo = r.weight[io], wg = r.weight[ii], kh = r.weight[hwio ? 0 : 2], kw = r.weight[hwio ? 1 : 3];
  require_dim("weight.shape[" + str(io) + "]", wo);
  require_dim("weight.shape[" + str(ii) + "]", wg);
  require_dim("kernel height (weight.shape[" + str(hwio ? 0 : 2) + "])", kh);
  require_dim("kernel width (weight.shape[" + str(hwio ? 1 : 3) + "])", kw);
  require_option("stride[0]", r.stride[0], 1);
  require_option("stride[1]", r.stride[1], 1);
  require_option("dilation[0]", r.dilation[0], 1);
  require_option("dilation[1]", r.dilation[1], 1);
  require_option("groups", r.groups, 1);
  if (r.pad_mode == PadMode::Explicit) {
    static const char* const side[4] = {"top", "bottom", "left", "right"};
    for (int i = 0; i < 4; ++i) require_option(std::string("padding[") + side[i] + "]", r.pad[i], 0);
  }
  checked_count("input", n, c, h, w);
  checked_count("weight", wo, wg, kh, kw);
  if (!transpose && r.direction == Direction::BackwardWeights && r.epilogue.act != Activation::None)
    throw_range(codes::kInvalidOption, "an activation applies to forward and transposed convolutions, not to the weight gradient");

  ConvProblem p;
  p.direction = transpose ? Direction::BackwardData : r.direction;
  p.N = n;
  p.Cout = wo;
  p.Cg = wg;
  p.KH = kh;
  p.KW = kw;
  p.groups = r.groups;
  p.stride_h = r.stride[0];
  p.stride_w = r.stride[1];
  p.dil_h = r.dilation[0];
  p.dil_w = r.dilation[1];
  p.layout = r.layout;
  p.weight_layout = r.weight_layout;
  p.epilogue = r.epilogue;
  p.precision = r.precision;

  // The channels the weight expects of the input: a convolution reads Cg per group; a transposed
  // convolution reads its forward's output channels, weight.shape[0] (IOHW) or [3] (HWOI).
  const int64_t expected = transpose ? wo : wg * r.groups;
  if (!transpose && c % r.groups != 0)
    throw_range(codes::kInvalidGroups, "input channels (" + cname + " = " + str(c) + ") must be divisible by groups (" +
                                           str(r.groups) + ")");
  if (wo % r.groups != 0)
    throw_range(codes::kInvalidGroups,
                std::string(transpose ? "input channels (" : "output channels (") + "weight.shape[" + str(io) +
                    "] = " + str(wo) + ") must be divisible by groups (" + str(r.groups) + ")");
  if (c != expected) {
    std::string m = r.prepared ? "the input has " + str(c) + " channels; this layer expects " + str(expected)
                    : transpose ? "the input has " + str(c) + " channels (" + cname + ") but the weight expects " +
                                      str(expected) + " (weight.shape[" + str(io) + "], input channels of a transposed convolution)"
                    : "the input has " + str(c) + " channels (" + cname + ") but the weight expects " + str(expected) +
                          " (weight.shape[" + str(ii) + "] = " + str(wg) + " per group" +
                          (r.groups > 1 ? " x groups " + str(r.groups) : "") + ")";
    throw_range(codes::kChannelMismatch, m + layout_hint(r, expected));
  }

  // Sizes and padding along each axis (0: height, 1: width).
  int64_t pads[4];
  int64_t in_sz[2];
  const int64_t ks[2] = {kh, kw};
  const int64_t given[2] = {h, w};
  for (int a = 0; a < 2; ++a) {
    const int64_t s = r.stride[a], d = r.dilation[a], k = ks[a];
    int64_t* before = &pads[2 * a];
    int64_t* after = &pads[2 * a + 1];
    const int64_t span = d * (k - 1) + 1;  // every factor < 2^31: no overflow
    if (!transpose) {
      in_sz[a] = given[a];
      if (r.pad_mode == PadMode::Explicit) { *before = r.pad[2 * a]; *after = r.pad[2 * a + 1]; }
      else if (r.pad_mode == PadMode::Valid) *before = *after = 0;
      else same_padding(given[a], k, s, d, r.pad_mode == PadMode::SameLower, before, after);
      continue;
    }
    // Transposed: this axis of the input is the forward output; find the forward input size.
    const int64_t op = r.output_padding[a];
    require_option(std::string("outputPadding[") + str(a) + "]", op, 0);
    const int64_t limit = s > d ? s : d;
    if (op >= limit)
      throw_range(codes::kInvalidOption, std::string("outputPadding[") + str(a) + "] must be below max(stride, dilation) = " +
                                             str(limit) + " along the " + kAxis[a] + ", got " + str(op));
    if (r.pad_mode == PadMode::SameUpper || r.pad_mode == PadMode::SameLower) {
      if (op != 0)
        throw_range(codes::kInvalidOption, "outputPadding must be 0 with padding 'same' (the output size is input size x stride)");
      in_sz[a] = given[a] * s;  // < 2^62
      if (in_sz[a] > kMaxTensorElements)
        throw_range(codes::kTooLarge, std::string("output ") + kAxis[a] + " " + str(given[a]) + " x stride " + str(s) +
                                          " is more than the limit of " + str(kMaxTensorElements));
      same_padding(in_sz[a], k, s, d, r.pad_mode == PadMode::SameLower, before, after);
    } else {
      if (r.pad_mode == PadMode::Explicit) { *before = r.pad[2 * a]; *after = r.pad[2 * a + 1]; }
      else *before = *after = 0;
      // OH = (H - 1) * stride - (top + bottom) + dilation * (KH - 1) + outputPadding + 1
      const __int128 sz = (__int128)(given[a] - 1) * s - *before - *after + span - 1 + op + 1;
      if (sz < 1) {
        std::ostringstream m;
        m << "output would be empty: the transposed convolution's output " << kAxis[a] << " is (" << given[a]
          << " - 1) x stride " << s << " - padding " << (*before + *after) << " + dilated kernel " << span
          << " + outputPadding " << op << " = " << (int64_t)sz;
        throw_range(codes::kEmptyOutput, m.str());
      }
      if (sz > kMaxTensorElements)
        throw_range(codes::kTooLarge, std::string("output ") + kAxis[a] + " would be " + str(int64_t(sz)) +
                                          ", more than the limit of " + str(kMaxTensorElements));
      in_sz[a] = int64_t(sz);
    }
  }
  // 'same' padding grows with the dilated kernel; keep it within the limit every padding has (found
  // by the fuzzer: dilation 2^31 - 1 gave paddings of 2^46, which 32-bit index math would wrap).
  for (const int64_t pad : pads)
    if (pad > kMaxTensorElements)
      throw_range(codes::kTooLarge, "'same' padding would be " + str(pad) + " (dilated kernel " +
                                        str(r.dilation[0] * (kh - 1) + 1) + "x" + str(r.dilation[1] * (kw - 1) + 1) +
                                        "), more than the limit of " + str(kMaxTensorElements));
  p.pad_t = pads[0]; p.pad_b = pads[1]; p.pad_l = pads[2]; p.pad_r = pads[3];
  p.H = in_sz[0];
  p.W = in_sz[1];
  p.Cin = wg * r.groups;  // < 2^62; checked with the tensor counts below
  if (transpose) {
    p.OH = h;  // at most what the padded forward input gives: out_size >= h by construction
    p.OW = w;
  } else {
    // Products below cannot overflow: every factor is <= 2^31 and padding is bounded the same way.
    p.OH = out_size(p.H, p.pad_t, p.pad_b, kh, p.stride_h, p.dil_h);
    p.OW = out_size(p.W, p.pad_l, p.pad_r, kw, p.stride_w, p.dil_w);
    if (p.OH < 1 || p.OW < 1) {
      std::ostringstream m;
      m << "output would be empty: input " << p.H << "x" << p.W << " padded by [" << p.pad_t << ", " << p.pad_b
        << ", " << p.pad_l << ", " << p.pad_r << "] is smaller than the dilated kernel "
        << (r.dilation[0] * (kh - 1) + 1) << "x" << (r.dilation[1] * (kw - 1) + 1);
      throw_range(codes::kEmptyOutput, m.str());
    }
  }
  require_dim("input channels", p.Cin);
  checked_count(transpose ? "output" : "input", p.N, p.Cin, p.H, p.W);
  checked_count(transpose ? "input" : "output", p.N, p.Cout, p.OH, p.OW);
  return p;
}

void set_sizes(ConvRequest& r, int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t KH, int64_t KW) {
  const int64_t g = r.groups > 0 ? r.groups : 1;
  r.rank = 4;
  const int64_t in_c = r.op == Op::Transpose ? Cout : Cin;
  const int64_t nchw[4] = {N, in_c, H, W}, nhwc[4] = {N, H, W, in_c};
  // The forward weight [Cout, Cin/g, KH, KW] (a transposed conv's IOHW is the same memory).
  const int64_t oihw[4] = {Cout, Cin / g, KH, KW}, hwio[4] = {KH, KW, Cin / g, Cout};
  for (int i = 0; i < 4; ++i) {
    r.input[i] = r.layout == Layout::NHWC ? nhwc[i] : nchw[i];
    r.weight[i] = r.weight_layout == WeightLayout::HWIO ? hwio[i] : oihw[i];
  }
}

int shape_of(const ConvProblem& p, Tensor t, int rank, int64_t dims[4]) {
  if (t == Tensor::W) {
    const bool hwio = p.weight_layout == WeightLayout::HWIO;
    const int64_t oihw[4] = {p.Cout, p.Cg, p.KH, p.KW}, hw[4] = {p.KH, p.KW, p.Cg, p.Cout};
    for (int i = 0; i < 4; ++i) dims[i] = hwio ? hw[i] : oihw[i];
    return 4;
  }
  const bool x = t == Tensor::X;
  const int64_t c = x ? p.Cin : p.Cout, h = x ? p.H : p.OH, w = x ? p.W : p.OW;
  int i = 0;
  if (rank == 4) dims[i++] = p.N;
  if (p.layout == Layout::NHWC) { dims[i++] = h; dims[i++] = w; dims[i++] = c; }
  else { dims[i++] = c; dims[i++] = h; dims[i++] = w; }
  return i;
}

std::string describe(const ConvProblem& p) {
  std::ostringstream m;
  m << direction_name(p.direction) << " N=" << p.N << " Cin=" << p.Cin << " H=" << p.H << " W=" << p.W
    << " Cout=" << p.Cout << " KH=" << p.KH << " KW=" << p.KW << " stride=" << p.stride_h << "x" << p.stride_w
    << " dil=" << p.dil_h << "x" << p.dil_w << " pad=[" << p.pad_t << "," << p.pad_b << "," << p.pad_l << ","
    << p.pad_r << "] OH=" << p.OH << " OW=" << p.OW << " groups=" << p.groups
    << (p.layout == Layout::NHWC ? " NHWC" : " NCHW") << (p.weight_layout == WeightLayout::HWIO ? " HWIO" : " OIHW")
    << (p.epilogue.bias ? " bias" : "") << (p.epilogue.act == Activation::Relu ? " relu" : "")
    << (p.precision == Precision::BF16 ? " bf16" : "");
  return m.str();
}

}  // namespace cc
