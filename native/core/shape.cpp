#include "shape.h"

#include <sstream>

#include "error.h"

namespace cc {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

void require_dim(const char* name, int64_t v) {
  if (v < 1) throw_range(codes::kInvalidShape, std::string(name) + " must be >= 1, got " + str(v));
  if (v > kMaxTensorElements)
    throw_range(codes::kTooLarge, std::string(name) + " must be <= " + str(kMaxTensorElements) +
                                      ", got " + str(v));
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

void require_option(const char* name, int64_t v, int64_t lo) {
  if (v < lo)
    throw_range(codes::kInvalidOption,
                std::string(name) + " must be >= " + str(lo) + ", got " + str(v));
  if (v > kMaxTensorElements)
    throw_range(codes::kInvalidOption, std::string(name) + " must be <= " +
                                           str(kMaxTensorElements) + ", got " + str(v));
}

int64_t out_size(int64_t in, int64_t pb, int64_t pa, int64_t k, int64_t stride, int64_t dil) {
  const int64_t span = dil * (k - 1) + 1;  // receptive field of one output pixel
  const int64_t padded = in + pb + pa;
  if (padded < span) return 0;
  return (padded - span) / stride + 1;
}

}  // namespace

void same_padding(int64_t in, int64_t k, int64_t stride, int64_t dil, bool lower, int64_t* before,
                  int64_t* after) {
  const int64_t out = (in + stride - 1) / stride;
  int64_t total = (out - 1) * stride + dil * (k - 1) + 1 - in;
  if (total < 0) total = 0;
  const int64_t small = total / 2, big = total - small;
  *before = lower ? big : small;
  *after = lower ? small : big;
}

ConvShape make_shape(const ConvDesc& d) {
  const bool nhwc = d.layout == Layout::NHWC;
  require_dim("input batch (N)", d.N);
  require_dim(nhwc ? "input channels (input.shape[3])" : "input channels (input.shape[1])", d.C);
  require_dim("input height", d.H);
  require_dim("input width", d.W);
  require_dim("weight output channels", d.K);
  require_dim("weight input channels per group", d.Cg);
  require_dim("kernel height", d.KH);
  require_dim("kernel width", d.KW);
  require_option("stride[0]", d.stride_h, 1);
  require_option("stride[1]", d.stride_w, 1);
  require_option("dilation[0]", d.dil_h, 1);
  require_option("dilation[1]", d.dil_w, 1);
  require_option("groups", d.groups, 1);
  if (d.pad_mode == PadMode::Explicit) {
    require_option("padding[top]", d.pad_t, 0);
    require_option("padding[bottom]", d.pad_b, 0);
    require_option("padding[left]", d.pad_l, 0);
    require_option("padding[right]", d.pad_r, 0);
  }
  checked_count("input", d.N, d.C, d.H, d.W);
  checked_count("weight", d.K, d.Cg, d.KH, d.KW);

  if (d.C % d.groups != 0)
    throw_range(codes::kInvalidGroups, "input channels (" + str(d.C) + ") must be divisible by groups (" +
                                           str(d.groups) + ")");
  if (d.K % d.groups != 0)
    throw_range(codes::kInvalidGroups, "weight output channels (" + str(d.K) +
                                           ") must be divisible by groups (" + str(d.groups) + ")");
  if (d.Cg * d.groups != d.C) {
    const char* wdim = d.weight_layout == WeightLayout::OIHW ? "weight.shape[1]" : "weight.shape[2]";
    throw_range(codes::kChannelMismatch, std::string(wdim) + " (input channels per group) must be " +
                                             str(d.C / d.groups) + " = input channels " + str(d.C) +
                                             " / groups " + str(d.groups) + ", got " + str(d.Cg));
  }

  ConvShape s;
  static_cast<ConvDesc&>(s) = d;
  switch (d.pad_mode) {
    case PadMode::Explicit: break;
    case PadMode::Valid: s.pad_t = s.pad_b = s.pad_l = s.pad_r = 0; break;
    case PadMode::SameUpper:
    case PadMode::SameLower: {
      const bool lower = d.pad_mode == PadMode::SameLower;
      same_padding(d.H, d.KH, d.stride_h, d.dil_h, lower, &s.pad_t, &s.pad_b);
      same_padding(d.W, d.KW, d.stride_w, d.dil_w, lower, &s.pad_l, &s.pad_r);
      break;
    }
  }
  s.pad_mode = PadMode::Explicit;
  // 'same' padding grows with the dilated kernel; keep it within the limit every padding has (found
  // by the fuzzer: dilation 2^31 - 1 gave paddings of 2^46, which 32-bit index math would wrap).
  for (const int64_t pad : {s.pad_t, s.pad_b, s.pad_l, s.pad_r})
    if (pad > kMaxTensorElements)
      throw_range(codes::kTooLarge, "'same' padding would be " + str(pad) + " (dilated kernel " +
                                        str(d.dil_h * (d.KH - 1) + 1) + "x" + str(d.dil_w * (d.KW - 1) + 1) +
                                        "), more than the limit of " + str(kMaxTensorElements));
  // Products below cannot overflow: every factor is <= 2^31 and padding is bounded the same way.
  s.OH = out_size(d.H, s.pad_t, s.pad_b, d.KH, d.stride_h, d.dil_h);
  s.OW = out_size(d.W, s.pad_l, s.pad_r, d.KW, d.stride_w, d.dil_w);
  if (s.OH < 1 || s.OW < 1) {
    std::ostringstream m;
    m << "output would be empty: input " << d.H << "x" << d.W << " padded by [" << s.pad_t << ", "
      << s.pad_b << ", " << s.pad_l << ", " << s.pad_r << "] is smaller than the dilated kernel "
      << (d.dil_h * (d.KH - 1) + 1) << "x" << (d.dil_w * (d.KW - 1) + 1);
    throw_range(codes::kEmptyOutput, m.str());
  }
  checked_count("output", d.N, d.K, s.OH, s.OW);
  return s;
}

std::string describe(const ConvShape& s) {
  std::ostringstream m;
  m << "N=" << s.N << " C=" << s.C << " H=" << s.H << " W=" << s.W << " K=" << s.K << " KH=" << s.KH
    << " KW=" << s.KW << " stride=" << s.stride_h << "x" << s.stride_w << " dil=" << s.dil_h << "x"
    << s.dil_w << " pad=[" << s.pad_t << "," << s.pad_b << "," << s.pad_l << "," << s.pad_r
    << "] groups=" << s.groups << (s.layout == Layout::NHWC ? " NHWC" : " NCHW")
    << (s.weight_layout == WeightLayout::HWIO ? " HWIO" : " OIHW");
  return m.str();
}

}  // namespace cc
