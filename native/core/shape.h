// Convolution shapes: the user's request (ConvDesc), validated and resolved into a ConvShape with
// output size, padding and cost. Pure arithmetic, 64-bit throughout, no allocation.
#pragma once
#include <cstdint>
#include <string>

namespace cc {

enum class Layout { NCHW, NHWC };      // activations: input and output
enum class WeightLayout { OIHW, HWIO };
enum class PadMode { Explicit, Valid, SameUpper, SameLower };

// Largest element count of any one tensor (input, weight, output). Checked before allocating.
inline constexpr int64_t kMaxTensorElements = (int64_t{1} << 31) - 1;

// The request, with dimensions already in logical (N, C, H, W) / (O, I, KH, KW) order whatever the
// memory layout.
struct ConvDesc {
  int64_t N = 1, C = 1, H = 1, W = 1;   // input
  int64_t K = 1, Cg = 1, KH = 1, KW = 1;  // weight: K = Cout, Cg = Cin / groups
  int64_t stride_h = 1, stride_w = 1;
  int64_t dil_h = 1, dil_w = 1;
  PadMode pad_mode = PadMode::Explicit;
  int64_t pad_t = 0, pad_b = 0, pad_l = 0, pad_r = 0;  // used when pad_mode == Explicit
  int64_t groups = 1;
  Layout layout = Layout::NCHW;
  WeightLayout weight_layout = WeightLayout::OIHW;
};

// A validated request: padding resolved, output size and cost known.
struct ConvShape : ConvDesc {
  int64_t OH = 0, OW = 0;
  int64_t input_elems() const { return N * C * H * W; }
  int64_t weight_elems() const { return K * Cg * KH * KW; }
  int64_t output_elems() const { return N * K * OH * OW; }
  // Multiply-adds: N * Cout * (Cin/groups) * KH * KW * OH * OW. FLOPs are twice this.
  double macs() const {
    return double(N) * double(K) * double(Cg) * double(KH) * double(KW) * double(OH) * double(OW);
  }
  bool is_pointwise() const {  // 1x1, stride 1, no padding: the input already is the GEMM's B
    return KH == 1 && KW == 1 && stride_h == 1 && stride_w == 1 && pad_t == 0 && pad_b == 0 &&
           pad_l == 0 && pad_r == 0;
  }
};

// Validates `d` and resolves padding and output size. Throws cc::Error (RangeError kinds) naming the
// offending parameter, with expected vs got.
ConvShape make_shape(const ConvDesc& d);

// TensorFlow SAME / ONNX SAME_UPPER (lower = false) or SAME_LOWER padding along one axis.
void same_padding(int64_t in, int64_t k, int64_t stride, int64_t dil, bool lower, int64_t* before,
                  int64_t* after);

std::string describe(const ConvShape& s);

}  // namespace cc
