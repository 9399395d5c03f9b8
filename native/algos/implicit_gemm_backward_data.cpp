// implicit_gemm (backward-data, and so the transposed convolution): dx as stride-1 convolutions of dy,
// one per class of kernel taps (the stride-phase decomposition). With stride s and dilation d along
// an axis, taps kh and kh + P (P = s / gcd(s, d)) land on input rows of the same residue mod s; the
// class of tap c0 < P, {c0, c0 + P, ...}, feeds exactly the rows ih = a + s*i, a = (c0*d - pad) mod s:
//     dx[c][a + s*i] = sum over taps kh of the class, k of dy[k][i + off(kh)] * w[k][c][kh],
//     off(kh) = (a + pad - kh*d) / s   (exact),
// a stride-1 correlation of dy with the class's flipped taps. Stride 1 has one class: the forward
// convolution with the flipped, transposed kernel. Each class pair (rows, columns) is a GEMM with
// M = Cin/groups, K = Cout/groups x its taps, N = the phase's pixels, B read in place from zero-padded
// dy rows copied per tile (as the forward implicit GEMM reads x). A is the weights regrouped per class
// and packed once (a prepared layer keeps them). Every dx element belongs to one class pair: tasks
// never write the same element. bf16: dy's channels in pairs (common.h's element channels), both
// the A packing and the dy row copies converting. Residues no tap reaches (stride above the kernel's reach) are
// act(bias): dx is filled with it first.
#include <algorithm>
#include <numeric>

#include "common.h"

namespace cc {
namespace algos {
namespace {

// Per-thread buffers (dy rows, C tile, offsets) stay below this many bytes; wider problems take direct.
constexpr int64_t kBufferCap = int64_t(4) << 20;

// The tap classes along one axis (kernel size k, stride s, dilation d, padding before p).
struct Axis {
  int64_t P, classes, step;  // period, classes with taps (min(k, P)), offset step between a class's taps
  int64_t taps(int64_t c0, int64_t k) const { return (k - 1 - c0) / P + 1; }
};
Axis axis(int64_t k, int64_t s, int64_t d) {
  const int64_t g = std::gcd(s, d);
  return Axis{s / g, std::min(k, s / g), d / g};
}
int64_t residue(int64_t c0, int64_t s, int64_t d, int64_t pad) { return ((c0 * d - pad) % s + s) % s; }

struct BdPlan {
  int64_t M, Mp;                // Cg, rounded up to MR
  int64_t Ke;                   // element channels of dy per group: Cout/groups, or its pairs (bf16)
  Axis ah, aw;
  int64_t span_h, span_w;       // largest (offset range) of a class: (taps - 1) * step
  int64_t Wq;                   // widest window: ceil(W / sw) + span_w
  RowTiles rt;                  // tiles of phase rows (of the tallest phase) per image, group, class pair
  int64_t xl_floats, ct_floats, kd_max;
  bool fill;                    // some residue receives no tap
};

bool preferred(const ConvProblem&, const KernelSet&) { return true; }

int64_t per_thread_floats(const BdPlan& b) { return b.xl_floats + b.ct_floats + 2 * b.kd_max; }

// K blocks: equal, of at most kc.
int64_t k_block(int64_t K, int64_t kc) {
  const int64_t blocks = (K + kc - 1) / kc;
  return (K + blocks - 1) / blocks;
}

// Floats of class pair (ch, cw)'s packed A within its group, and where it starts.
int64_t class_offset(const ConvProblem& s, const BdPlan& b, int64_t ch, int64_t cw) {
  int64_t before_h = 0, before_w = 0;
  for (int64_t c = 0; c < ch; ++c) before_h += b.ah.taps(c, s.KH);
  for (int64_t c = 0; c < cw; ++c) before_w += b.aw.taps(c, s.KW);
  return b.Mp * b.Ke * (before_h * s.KW + b.ah.taps(ch, s.KH) * before_w);
}

bool plan(Plan& pl) {
  const ConvProblem& s = pl.problem;
  const GemmShape kr = gemm_shape(s, *pl.kernels);
  BdPlan& b = pl.get<BdPlan>();
  b.M = s.Cg;
  b.Mp = (b.M + kr.mr - 1) / kr.mr * kr.mr;
  b.Ke = (s.Kg() + kr.kpack - 1) / kr.kpack;
  b.ah = axis(s.KH, s.stride_h, s.dil_h);
  b.aw = axis(s.KW, s.stride_w, s.dil_w);
  b.span_h = (b.ah.taps(0, s.KH) - 1) * b.ah.step;
  b.span_w = (b.aw.taps(0, s.KW) - 1) * b.aw.step;
  b.fill = b.ah.classes < s.stride_h || b.aw.classes < s.stride_w;
  const int64_t Ha = (s.H + s.stride_h - 1) / s.stride_h, Wa = (s.W + s.stride_w - 1) / s.stride_w;
  const int64_t Kg = b.Ke, nr = kr.nr;  // (element channels from here on)
  // Checked in floating point first: with huge sizes the int64 products below could overflow.
  const double wq = double(Wa) + double(b.span_w);
  const double kd = double(Kg) * double(b.ah.taps(0, s.KH)) * double(b.aw.taps(0, s.KW));
  const double min_floats = double(Kg) * (1.0 + double(b.span_h)) * wq + double(b.span_w) + double(b.Mp) * (wq + nr) + 2 * kd;
  if (min_floats * 4 > double(kBufferCap)) return false;
  b.Wq = Wa + b.span_w;
  b.kd_max = int64_t(kd);
  // Tiles of phase rows whose buffers fit half of L2 (as forward), over the images, groups and class
  // pairs (common.h).
  const int t = team(s, pl.threads);
  b.rt = row_tiles(
      Ha, b.Wq, int(nr), 2 * kr.nc / b.Wq, [&](int64_t r) { return 4 * (Kg * (r + b.span_h) * b.Wq + b.M * r * b.Wq); },
      int64_t(512) << 10, s.N * s.groups * b.ah.classes * b.aw.classes, b.Mp / kr.mr, t);
  pl.threads = int(std::min<int64_t>(t, b.rt.tasks));
  b.xl_floats = Kg * (b.rt.rows + b.span_h) * b.Wq + b.span_w + nr;
  b.xl_floats += b.xl_floats & 1;
  b.ct_floats = b.Mp * ((b.rt.rows * b.Wq + nr - 1) / nr * nr);
  b.ct_floats += b.ct_floats & 1;  // keep the int64 offsets after it 8-byte aligned
  if (per_thread_floats(b) * 4 > kBufferCap) return false;
  pl.scratch_bytes = size_t(per_thread_floats(b)) * 4 * size_t(pl.threads);
  return true;
}

const char kClassAFormat = 0, kClassABf16Format = 0;
const void* pack_format(const ConvProblem& p) {
  return p.precision == Precision::BF16 ? &kClassABf16Format : &kClassAFormat;
}

size_t packed_bytes(const Plan& pl) {
  const ConvProblem& s = pl.problem;
  const BdPlan& b = pl.get<BdPlan>();
  return size_t(s.groups * b.Mp * b.Ke * s.KH * s.KW) * 4;
}

// A of class pair (ch, cw) of group g: [Cg] x [(k, th, tw)] = w[g*Kg + k][c][kh(th)][kw(tw)], in
// MR-row panels per K block (the layout pack_a writes); bf16: k an element channel, the pair of
// w[g*Kg + 2k] and w[g*Kg + 2k + 1] (zero past Kg), rounded.
void prepack(const Plan& pl, const float* w, float* dst, int threads) {
  const ConvProblem& s = pl.problem;
  const BdPlan& b = pl.get<BdPlan>();
  const GemmShape kr = gemm_shape(s, *pl.kernels);
  const int mr = kr.mr;
  const bool bf16 = kr.kpack == 2;
  const int64_t Kg = s.Kg(), Ke = b.Ke, pairs = b.ah.classes * b.aw.classes, taps = s.KH * s.KW;
  if (int64_t(packed_bytes(pl) / 4) < (int64_t(1) << 16)) threads = 1;
  parallel_for(threads, s.groups * pairs, [&](int64_t u, int) {
    const int64_t g = u / pairs, ch = u % pairs / b.aw.classes, cw = u % b.aw.classes;
    const int64_t nth = b.ah.taps(ch, s.KH), ntw = b.aw.taps(cw, s.KW), K = Ke * nth * ntw;
    const int64_t kc = k_block(K, kr.kc);
    const int64_t base = g * b.Mp * Ke * taps + class_offset(s, b, ch, cw);
    for (int64_t k0 = 0; k0 < K; k0 += kc) {
      const int64_t kcb = std::min(kc, K - k0);
      for (int64_t i0 = 0; i0 < b.Mp; i0 += mr) {
        float* p = dst + base + b.Mp * k0 + i0 * kcb;
        for (int64_t kk = 0; kk < kcb; ++kk) {
          const int64_t kd = k0 + kk, k = kd / (nth * ntw), th = kd / ntw % nth, tw = kd % ntw;
          const int64_t tap = (ch + th * b.ah.P) * s.KW + cw + tw * b.aw.P;
          const int64_t k_lo = bf16 ? 2 * k : k;
          const float* wk = w + ((g * Kg + k_lo) * s.Cg) * taps + tap;
          for (int i = 0; i < mr; ++i) {
            const bool in = i0 + i < b.M;
            if (!bf16) {
              p[kk * mr + i] = in ? wk[(i0 + i) * taps] : 0.0f;
              continue;
            }
            const Bf16Pair lo = in ? to_bf16(wk[(i0 + i) * taps]) : 0;
            const Bf16Pair hi = in && k_lo + 1 < Kg ? to_bf16(wk[s.Cg * taps + (i0 + i) * taps]) : 0;
            reinterpret_cast<Bf16Pair*>(p)[kk * mr + i] = lo | hi << 16;
          }
        }
      }
    }
  });
}

// dy [N, Cout, OH, OW] (or NHWC), packed A -> dx [N, Cin, H, W] (or NHWC); G: the element kernels
template <class G>
void run_t(const ConvProblem& s, const BdPlan& b, const RunArgs& args, float* scratch, int threads, const G& kr) {
  using E = typename G::E;
  const int mr = kr.mr, nr = kr.nr, kpack = kr.kpack;
  const int64_t Kg = s.Kg(), Ke = b.Ke, M = b.M, Mp = b.Mp, taps = s.KH * s.KW;
  const bool nhwc = s.layout == Layout::NHWC, relu = s.epilogue.act == Activation::Relu;
  const bool unit = s.stride_h == 1 && s.stride_w == 1;
  const ActStrides xs = act_strides(s.layout, s.Cin, s.H, s.W), ys = act_strides(s.layout, s.Cout, s.OH, s.OW);
  const float* bias = args.bias;
  float* dx = args.dst;
  if (b.fill) {  // act(bias) where no tap reaches; the class pairs overwrite the rest
    parallel_for(threads, s.N * s.H, [&](int64_t task, int) {
      const int64_t n = task / s.H, ih = task % s.H;
      for (int64_t c = 0; c < s.Cin; ++c) {
        const float v = bias ? bias[c] : 0.0f, f = relu && !(v > 0.0f) ? 0.0f : v;
        float* row = dx + n * xs.n + c * xs.c + ih * xs.h;
        for (int64_t iw = 0; iw < s.W; ++iw) row[iw * xs.w] = f;
      }
    });
  }
  const int64_t pairs = b.ah.classes * b.aw.classes, per_thread = per_thread_floats(b);
  parallel_for(threads, b.rt.tasks, [&](int64_t task, int thread) {
    const RowTiles::Task tk = b.rt.task(task, M, Mp, mr);  // its input channels: [m_lo, m_hi)
    const int64_t pair = tk.unit % pairs, img = tk.unit / pairs, g = img % s.groups, n = img / s.groups;
    const int64_t ch = pair / b.aw.classes, cw = pair % b.aw.classes;
    // This class pair's rows: residue a, Ha rows, taps kh = ch + th*P at dy row offset oh0 - th*step.
    const int64_t a = residue(ch, s.stride_h, s.dil_h, s.pad_t), bw = residue(cw, s.stride_w, s.dil_w, s.pad_l);
    const int64_t Ha = a < s.H ? (s.H - a + s.stride_h - 1) / s.stride_h : 0;
    const int64_t Wa = bw < s.W ? (s.W - bw + s.stride_w - 1) / s.stride_w : 0;
    const int64_t i0 = tk.tile * b.rt.rows, i1 = std::min(Ha, i0 + b.rt.rows), rows = i1 - i0;
    if (rows <= 0 || Wa <= 0) return;
    const int64_t nth = b.ah.taps(ch, s.KH), ntw = b.aw.taps(cw, s.KW);
    const int64_t offh0 = (a + s.pad_t - ch * s.dil_h) / s.stride_h, offw0 = (bw + s.pad_l - cw * s.dil_w) / s.stride_w;
    const int64_t spanh = (nth - 1) * b.ah.step, spanw = (ntw - 1) * b.aw.step;
    const int64_t omin_h = offh0 - spanh, omin_w = offw0 - spanw;  // offsets run offX0 - t*step
    const int64_t R = rows + spanh, Wq = Wa + spanw, ncols = rows * Wq, Kd = Ke * nth * ntw;
    E* xl = reinterpret_cast<E*>(scratch + per_thread * thread);
    float* ct = scratch + per_thread * thread + b.xl_floats;
    int64_t* offs = reinterpret_cast<int64_t*>(ct + b.ct_floats);
    // dy rows i0 + omin_h .. of this image and group, columns omin_w .., zero outside dy.
    const float* dyg = args.src + n * ys.n + g * Kg * ys.c;
    const int64_t j0 = std::min(Wq, std::max<int64_t>(0, -omin_w)), j1 = std::max(j0, std::min(Wq, s.OW - omin_w));
    for (int64_t k = 0; k < Ke; ++k)  // element channel k: dy channel kpack*k (and the next, bf16)
      for (int64_t r = 0; r < R; ++r) {
        E* d = xl + (k * R + r) * Wq;
        const int64_t oh = i0 + omin_h + r;
        if (oh < 0 || oh >= s.OH) {
          std::fill(d, d + Wq, E(0));
          continue;
        }
        const float* src = dyg + kpack * k * ys.c + oh * ys.h + (j0 + omin_w) * ys.w;
        std::fill(d, d + j0, E(0));
        kr.row(d + j0, src, kpack == 2 && 2 * k + 1 < Kg ? src + ys.c : nullptr, ys.w, j1 - j0);
        std::fill(d + j1, d + Wq, E(0));
      }
    std::fill(xl + Ke * R * Wq, xl + Ke * R * Wq + spanw + nr, E(0));  // slack the last panel reads
    for (int64_t k = 0, kd = 0; k < Ke; ++k)
      for (int64_t th = 0; th < nth; ++th)
        for (int64_t tw = 0; tw < ntw; ++tw)  // tap th's dy row: i + offh0 - th*step, window row (spanh - th*step)
          offs[kd++] = (k * R + spanh - th * b.ah.step) * Wq + spanw - tw * b.aw.step;
    const E* ag = reinterpret_cast<const E*>(args.packed) + g * Mp * Ke * taps + class_offset(s, b, ch, cw);
    const int64_t kc = k_block(Kd, kr.kc);
    const int64_t m_lo = tk.m_lo, m_hi = tk.m_hi;
    const int64_t ldc = (ncols + nr - 1) / nr * nr;
    // Stride 1 NCHW: a panel inside one row's valid columns goes straight into dx.
    auto direct = [&](int64_t jr, int ncb) { return unit && !nhwc && jr + ncb <= jr / Wq * Wq + Wa; };
    float* dx0 = dx + n * xs.n + (g * M) * xs.c + (a + s.stride_h * i0) * xs.h;  // phase row i0, channel 0
    gemm_rows(kr, ag, M, Mp, Kd, kc, m_lo, m_hi, bias ? bias + g * M : nullptr, relu, xl, offs, ncols,
              [&](int64_t jr, int ncb) {
                const int64_t r = jr / Wq;
                if (direct(jr, ncb)) return OutPanel{dx0 + r * xs.h + (jr - r * Wq), xs.c};
                return OutPanel{ct + jr, ldc};
              });
    // The rest of C into dx: phase pixel (i, j) is dx pixel (a + sh*i, bw + sw*j).
    for (int64_t r = 0; r < rows; ++r) {
      float* drow = dx0 + r * s.stride_h * xs.h + bw * xs.w;
      for (int64_t jr = r * Wq / nr * nr; jr < r * Wq + Wa; jr += nr) {
        const int ncb = int(std::min<int64_t>(nr, ncols - jr));
        if (direct(jr, ncb)) continue;
        const int64_t q0 = std::max(jr, r * Wq), q1 = std::min(jr + ncb, r * Wq + Wa);
        for (int64_t m = m_lo; m < m_hi; ++m)
          for (int64_t q = q0; q < q1; ++q) drow[m * xs.c + (q - r * Wq) * s.stride_w * xs.w] = ct[m * ldc + q];
      }
    }
  });
}

void run(const Plan& pl, const RunArgs& args, float* scratch, int threads) {
  with_gemm(pl.problem, *pl.kernels,
            [&](const auto& g) { run_t(pl.problem, pl.get<BdPlan>(), args, scratch, threads, g); });
}

}  // namespace

extern const Algorithm kImplicitGemmBackwardData = {"implicit_gemm", Direction::BackwardData, runs_any, preferred,
                                                    plan, run, pack_format, packed_bytes, prepack};

}  // namespace algos
}  // namespace cc
