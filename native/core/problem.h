// A convolution problem: the direction, the resolved geometry of the forward convolution, the
// epilogue and the precision. One resolver (resolve) builds it from a request for every entry point;
// everything after it (plan, algorithms, kernels, CUDA) reads only the problem.
//
// Every direction is described by its forward convolution
//     y [N, Cout, OH, OW] = x [N, Cin, H, W] (*) w [Cout, Cin/groups, KH, KW]
// Forward computes y from x and w; backward-data computes dx (the shape of x) from dy (the shape of y)
// and w; backward-weights computes dw (the shape of w) from x and dy. A transposed convolution is
// backward-data of its matching forward problem (as Caffe's Deconvolution and oneDNN's deconvolution).
#pragma once
#include <cstdint>
#include <string>

namespace cc {

enum class Direction { Forward, BackwardData, BackwardWeights };
enum class Layout { NCHW, NHWC };       // activations (x, y and their gradients)
enum class WeightLayout { OIHW, HWIO };  // the forward weight; a transposed conv's IOHW / HWOI are the same memory
enum class PadMode { Explicit, Valid, SameUpper, SameLower };
enum class Activation { None, Relu };
enum class Precision { FP32, TF32, BF16 };

inline constexpr int kDirections = 3;
const char* direction_name(Direction d);  // "forward", "backward_data", "backward_weights"

// Largest element count of any one tensor (input, weight, output). Checked before allocating.
inline constexpr int64_t kMaxTensorElements = (int64_t{1} << 31) - 1;

// What runs after the sum, fused into the kernels: out = act(sum + bias). Forward and backward-data
// (a transposed convolution) only; backward-weights has none (its `bias` means: also reduce dy into
// the bias gradient).
struct Epilogue {
  bool bias = false;
  Activation act = Activation::None;
};

struct ConvProblem {
  Direction direction = Direction::Forward;
  int64_t N = 1, Cin = 1, H = 1, W = 1;          // x
  int64_t Cout = 1, Cg = 1, KH = 1, KW = 1;      // w: Cg = Cin / groups input channels per group
  int64_t groups = 1;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t pad_t = 0, pad_b = 0, pad_l = 0, pad_r = 0;
  int64_t OH = 1, OW = 1;                        // y; never more rows than the padded input gives
  Layout layout = Layout::NCHW;
  WeightLayout weight_layout = WeightLayout::OIHW;
  Epilogue epilogue;
  Precision precision = Precision::FP32;

  int64_t Kg() const { return Cout / groups; }  // output channels per group
  int64_t x_elems() const { return N * Cin * H * W; }
  int64_t w_elems() const { return Cout * Cg * KH * KW; }
  int64_t y_elems() const { return N * Cout * OH * OW; }
  // Multiply-adds of the forward convolution, N * Cout * Cg * KH * KW * OH * OW: each direction does
  // exactly as many. FLOPs are twice this.
  double macs() const {
    return double(N) * double(Cout) * double(Cg) * double(KH) * double(KW) * double(OH) * double(OW);
  }
  bool is_pointwise() const {  // 1x1, stride 1, no padding: the input already is the GEMM's B
    return KH == 1 && KW == 1 && stride_h == 1 && stride_w == 1 && pad_t == 0 && pad_b == 0 && pad_l == 0 &&
           pad_r == 0 && OH == H && OW == W;
  }
  // The tensors of this direction: what it reads (besides w, or besides x for backward-weights)
  // and what it writes, in elements; and the bias it adds (forward: Cout, backward-data: Cin) or,
  // for backward-weights, the bias gradient it writes (Cout).
  int64_t src_elems() const { return direction == Direction::BackwardData ? y_elems() : x_elems(); }
  int64_t dst_elems() const {
    return direction == Direction::Forward ? y_elems() : direction == Direction::BackwardData ? x_elems() : w_elems();
  }
  int64_t bias_elems() const { return direction == Direction::BackwardData ? Cin : Cout; }
};

// ----- the request: what a caller asked for, before validation --------------------------------------

// How the shapes of a request are given: a convolution (input x, weight [Cout, Cin/g, KH, KW] or
// HWIO) or a transposed convolution (input dy-like [N, Cin_t, H, W], weight IOHW [Cin_t, Cout_t/g,
// KH, KW] or HWOI [KH, KW, Cout_t/g, Cin_t], i.e. the memory of its forward weight).
enum class Op { Conv, Transpose };

struct ConvRequest {
  Op op = Op::Conv;
  Direction direction = Direction::Forward;  // Op::Transpose: always BackwardData
  int rank = 4;                              // of the input: 3 (one image) or 4
  int64_t input[4] = {1, 1, 1, 1};           // as given, in `layout` order; rank 3 uses [0..2]
  int64_t weight[4] = {1, 1, 1, 1};          // as given, in `weight_layout` order
  int64_t stride[2] = {1, 1}, dilation[2] = {1, 1};
  PadMode pad_mode = PadMode::Explicit;
  int64_t pad[4] = {0, 0, 0, 0};             // top, bottom, left, right (Explicit only)
  int64_t output_padding[2] = {0, 0};        // Op::Transpose only
  int64_t groups = 1;
  Layout layout = Layout::NCHW;
  WeightLayout weight_layout = WeightLayout::OIHW;
  Epilogue epilogue;
  Precision precision = Precision::FP32;
  bool prepared = false;                     // a prepared layer's call: messages speak of "this layer"
};

// Sets r.input and r.weight from logical sizes, in r.layout / r.weight_layout order, for rank 4 (set
// r.groups first; a transposed request takes the sizes of its forward convolution's x as the output
// and y as the input). For native callers: tests, benchmarks, the fuzzer.
void set_sizes(ConvRequest& r, int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int64_t KH, int64_t KW);

// Validates `r` and resolves padding and sizes. Throws cc::Error (RangeError kinds) naming the
// offending parameter from the caller's point of view, with expected vs got.
ConvProblem resolve(const ConvRequest& r);

// TensorFlow SAME / ONNX SAME_UPPER (lower = false) or SAME_LOWER padding along one axis.
void same_padding(int64_t in, int64_t k, int64_t stride, int64_t dil, bool lower, int64_t* before,
                  int64_t* after);

// The shape of x, y or w as the caller sees it (layout order, the request's rank for activations).
enum class Tensor { X, Y, W };
int shape_of(const ConvProblem& p, Tensor t, int rank, int64_t dims[4]);

std::string describe(const ConvProblem& p);

}  // namespace cc
