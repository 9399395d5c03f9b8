// oneDNN as a peer of the native benchmark suite: see onednn.h. Compiled with CC_HAS_ONEDNN when CMake
// found libdnnl; without it the suite has no oneDNN rows.
#include "onednn.h"

#ifdef CC_HAS_ONEDNN
#include <algorithm>
#include <memory>
#include <unordered_map>

#include "oneapi/dnnl/dnnl.hpp"
#ifdef _OPENMP
#include <omp.h>
#endif
#endif

namespace ccbench {

#ifndef CC_HAS_ONEDNN

const char* onednn_version() { return nullptr; }

std::vector<OnednnCase> onednn_cases(const cc::ConvProblem&, int, const std::vector<cc::RunArgs>&, std::string* skipped) {
  if (skipped) *skipped = "this build has no oneDNN";
  return {};
}

#else

namespace {

using dnnl::memory;
using Dims = memory::dims;
using Dt = memory::data_type;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

// Our tensors as oneDNN memory descriptors, by explicit strides: NCHW or NHWC activations, OIHW or
// HWIO weights (grouped weights as [G, Cout/G, Cg, KH, KW]).
memory::desc act_md(const cc::ConvProblem& p, int64_t C, int64_t H, int64_t W) {
  if (p.layout == cc::Layout::NHWC) return memory::desc({p.N, C, H, W}, Dt::f32, Dims{H * W * C, 1, W * C, C});
  return memory::desc({p.N, C, H, W}, Dt::f32, Dims{C * H * W, H * W, W, 1});
}
Dims w_dims(const cc::ConvProblem& p) {
  if (p.groups > 1) return {p.groups, p.Kg(), p.Cg, p.KH, p.KW};
  return {p.Cout, p.Cg, p.KH, p.KW};
}
memory::desc w_md(const cc::ConvProblem& p) {
  const bool hwio = p.weight_layout == cc::WeightLayout::HWIO;
  const int64_t os = hwio ? 1 : p.Cg * p.KH * p.KW, is = hwio ? p.Cout : p.KH * p.KW;
  const int64_t hs = hwio ? p.KW * p.Cg * p.Cout : p.KW, ws = hwio ? p.Cg * p.Cout : 1;
  if (p.groups > 1) return memory::desc(w_dims(p), Dt::f32, Dims{p.Kg() * os, os, is, hs, ws});
  return memory::desc(w_dims(p), Dt::f32, Dims{os, is, hs, ws});
}
memory::desc any_md(const Dims& d, Dt t) { return memory::desc(d, t, memory::format_tag::any); }
memory::desc vec_md(int64_t n) { return memory::desc({n}, Dt::f32, memory::format_tag::a); }

// One tensor the primitive reads or writes: its argument, its descriptor in our layout and in the
// primitive's, and where each set keeps it (null: absent).
struct Tensor {
  int arg;
  memory::desc ours, theirs;
  std::vector<void*> sets;  // per set (a constant tensor repeats its pointer)
  bool constant;            // weights, bias: reordered once, shared by every case
};

// A built primitive with its tensors.
struct Built {
  dnnl::primitive prim;
  std::string impl;
  std::vector<Tensor> in, out;
};

// The primitive of p's direction with `alg`, or nothing when oneDNN has no implementation.
std::unique_ptr<Built> build(const cc::ConvProblem& p, dnnl::algorithm alg, const std::vector<cc::RunArgs>& sets,
                             std::string* why) {
  const Dt ct = p.precision == cc::Precision::BF16 ? Dt::bf16 : Dt::f32;
  const memory::desc x = act_md(p, p.Cin, p.H, p.W), y = act_md(p, p.Cout, p.OH, p.OW), w = w_md(p);
  const Dims xd{p.N, p.Cin, p.H, p.W}, yd{p.N, p.Cout, p.OH, p.OW}, wd = w_dims(p);
  const Dims strides{p.stride_h, p.stride_w}, dil{p.dil_h - 1, p.dil_w - 1};
  const Dims pad_l{p.pad_t, p.pad_l}, pad_r{p.pad_b, p.pad_r};
  auto per_set = [&](auto get) {
    std::vector<void*> v;
    for (const cc::RunArgs& a : sets) v.push_back(const_cast<float*>(get(a)));
    return v;
  };
  const bool bias = p.epilogue.bias;
  dnnl::primitive_attr attr;
  if (p.epilogue.act == cc::Activation::Relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  auto b = std::make_unique<Built>();
  try {
    using namespace dnnl;
    const auto fwd_kind = p.direction == cc::Direction::Forward ? prop_kind::forward_inference : prop_kind::forward_training;
    const convolution_forward::desc fd =
        bias && p.direction != cc::Direction::BackwardData
            ? convolution_forward::desc(fwd_kind, alg, any_md(xd, ct), any_md(wd, ct), vec_md(p.Cout), any_md(yd, Dt::f32),
                                        strides, dil, pad_l, pad_r)
            : convolution_forward::desc(fwd_kind, alg, any_md(xd, ct), any_md(wd, ct), any_md(yd, Dt::f32), strides,
                                        dil, pad_l, pad_r);
    if (p.direction == cc::Direction::Forward) {
      const convolution_forward::primitive_desc pd(fd, attr, engine());
      b->prim = convolution_forward(pd);
      b->impl = pd.impl_info_str();
      b->in.push_back({DNNL_ARG_SRC, x, pd.src_desc(), per_set([](const cc::RunArgs& a) { return a.src; }), false});
      b->in.push_back({DNNL_ARG_WEIGHTS, w, pd.weights_desc(), per_set([](const cc::RunArgs& a) { return a.w; }), true});
      if (bias)
        b->in.push_back({DNNL_ARG_BIAS, vec_md(p.Cout), pd.bias_desc(), per_set([](const cc::RunArgs& a) { return a.bias; }), true});
      b->out.push_back({DNNL_ARG_DST, y, pd.dst_desc(), per_set([](const cc::RunArgs& a) { return a.dst; }), false});
    } else if (p.direction == cc::Direction::BackwardData) {
      // convolution_backward_data has no bias or activation: those are a transposed convolution's
      // (oneDNN's deconvolution), not measured here.
      if (bias || p.epilogue.act != cc::Activation::None) {
        *why = "oneDNN's backward-data primitive has no bias or activation";
        return nullptr;
      }
      const convolution_forward::primitive_desc hint(fd, engine());
      const convolution_backward_data::desc bd(alg, any_md(xd, Dt::f32), any_md(wd, ct), any_md(yd, ct), strides, dil,
                                               pad_l, pad_r);
      const convolution_backward_data::primitive_desc pd(bd, engine(), hint);
      b->prim = convolution_backward_data(pd);
      b->impl = pd.impl_info_str();
      b->in.push_back({DNNL_ARG_DIFF_DST, y, pd.diff_dst_desc(), per_set([](const cc::RunArgs& a) { return a.src; }), false});
      b->in.push_back({DNNL_ARG_WEIGHTS, w, pd.weights_desc(), per_set([](const cc::RunArgs& a) { return a.w; }), true});
      b->out.push_back({DNNL_ARG_DIFF_SRC, x, pd.diff_src_desc(), per_set([](const cc::RunArgs& a) { return a.dst; }), false});
    } else {
      const convolution_forward::primitive_desc hint(fd, engine());
      const bool db = bias && sets[0].dst2;
      const convolution_backward_weights::desc bd =
          db ? convolution_backward_weights::desc(alg, any_md(xd, ct), any_md(wd, Dt::f32), vec_md(p.Cout),
                                                  any_md(yd, ct), strides, dil, pad_l, pad_r)
             : convolution_backward_weights::desc(alg, any_md(xd, ct), any_md(wd, Dt::f32), any_md(yd, ct), strides,
                                                  dil, pad_l, pad_r);
      const convolution_backward_weights::primitive_desc pd(bd, engine(), hint);
      b->prim = convolution_backward_weights(pd);
      b->impl = pd.impl_info_str();
      b->in.push_back({DNNL_ARG_SRC, x, pd.src_desc(), per_set([](const cc::RunArgs& a) { return a.src; }), false});
      b->in.push_back({DNNL_ARG_DIFF_DST, y, pd.diff_dst_desc(), per_set([](const cc::RunArgs& a) { return a.src2; }), false});
      b->out.push_back({DNNL_ARG_DIFF_WEIGHTS, w, pd.diff_weights_desc(), per_set([](const cc::RunArgs& a) { return a.dst; }), false});
      if (db)
        b->out.push_back({DNNL_ARG_DIFF_BIAS, vec_md(p.Cout), pd.diff_bias_desc(),
                          per_set([](const cc::RunArgs& a) { return a.dst2; }), false});
    }
  } catch (const dnnl::error& e) {
    *why = e.what();
    return nullptr;
  }
  return b;
}

void set_threads(int threads) {
#ifdef _OPENMP
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

void reorder(const memory& from, const memory& to) {
  dnnl::reorder(from, to).execute(stream(), const_cast<memory&>(from), const_cast<memory&>(to));
}

// The two cases of one built primitive. e2e: our layouts in and out, each per-set tensor reordered
// into (out of) the primitive's layout inside the call; blocked: the inputs of every set reordered
// once here, the call runs the primitive alone, finish() reorders the output back. Constant tensors
// (weights, bias) are reordered once for both, as a layer's weights would be.
void add_cases(const std::shared_ptr<Built>& b, int threads, const std::string& suffix, std::vector<OnednnCase>* out) {
  auto& eng = engine();
  const size_t nsets = b->in[0].sets.size();
  auto consts = std::make_shared<std::unordered_map<int, memory>>();
  for (const Tensor& t : b->in)
    if (t.constant) {
      memory m(t.theirs, eng);
      reorder(memory(t.ours, eng, t.sets[0]), m);
      (*consts)[t.arg] = m;
    }
  stream().wait();

  {  // end-to-end
    struct Io {
      const Tensor* t;
      bool same;
      std::vector<memory> ours;
      memory theirs;
      dnnl::reorder r;
    };
    auto io = std::make_shared<std::vector<Io>>();
    for (const auto* list : {&b->in, &b->out})
      for (const Tensor& t : *list) {
        if (t.constant) continue;
        Io e{&t, t.ours == t.theirs, {}, {}, {}};
        for (void* p : t.sets) e.ours.emplace_back(t.ours, eng, p);
        if (!e.same) {
          e.theirs = memory(t.theirs, eng);
          e.r = list == &b->in ? dnnl::reorder(e.ours[0], e.theirs) : dnnl::reorder(e.theirs, e.ours[0]);
        }
        io->push_back(std::move(e));
      }
    const size_t n_in = size_t(std::count_if(b->in.begin(), b->in.end(), [](const Tensor& t) { return !t.constant; }));
    OnednnCase c;
    c.label = "onednn" + suffix;
    c.impl = b->impl;
    c.call = [b, io, consts, threads, n_in](int64_t set) {
      set_threads(threads);
      std::unordered_map<int, memory> args(consts->begin(), consts->end());
      for (size_t k = 0; k < io->size(); ++k) {
        Io& e = (*io)[k];
        memory& ours = e.ours[size_t(set)];
        if (e.same) args[e.t->arg] = ours;
        else {
          if (k < n_in) e.r.execute(stream(), ours, e.theirs);
          args[e.t->arg] = e.theirs;
        }
      }
      b->prim.execute(stream(), args);
      for (size_t k = n_in; k < io->size(); ++k) {
        Io& e = (*io)[k];
        if (!e.same) e.r.execute(stream(), e.theirs, e.ours[size_t(set)]);
      }
      stream().wait();
    };
    c.finish = [](int64_t) {};
    out->push_back(std::move(c));
  }
  {  // blocked: the primitive alone
    auto mem = std::make_shared<std::vector<std::unordered_map<int, memory>>>(nsets);
    for (size_t s = 0; s < nsets; ++s) {
      (*mem)[s] = *consts;
      for (const Tensor& t : b->in)
        if (!t.constant) {
          memory m(t.theirs, eng);
          reorder(memory(t.ours, eng, t.sets[s]), m);
          (*mem)[s][t.arg] = m;
        }
      for (const Tensor& t : b->out) (*mem)[s][t.arg] = memory(t.theirs, eng);
    }
    stream().wait();
    OnednnCase c;
    c.label = "onednn" + suffix + " blocked";
    c.impl = b->impl;
    c.call = [b, mem, threads](int64_t set) {
      set_threads(threads);
      b->prim.execute(stream(), (*mem)[size_t(set)]);
      stream().wait();
    };
    c.finish = [b, mem](int64_t set) {
      for (const Tensor& t : b->out) reorder((*mem)[size_t(set)][t.arg], memory(t.ours, engine(), t.sets[size_t(set)]));
      stream().wait();
    };
    out->push_back(std::move(c));
  }
}

}  // namespace

const char* onednn_version() {
  static const std::string s = [] {
    const dnnl_version_t* v = dnnl_version();
    const std::string hash = v->hash && std::string(v->hash) != "N/A" ? std::string(" (") + v->hash + ")" : "";
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + hash;
  }();
  return s.c_str();
}

std::vector<OnednnCase> onednn_cases(const cc::ConvProblem& p, int threads, const std::vector<cc::RunArgs>& sets,
                                     std::string* skipped) {
  std::vector<OnednnCase> out;
  if (sets.empty()) return out;
  std::string why;
  set_threads(threads);
  if (auto b = build(p, dnnl::algorithm::convolution_auto, sets, &why)) add_cases(std::shared_ptr<Built>(std::move(b)), threads, "", &out);
  else if (skipped) *skipped = why;
  // Winograd where oneDNN has it for p (its 'auto' never picks it): forward and backward, fp32.
  std::string wino_why;
  if (auto b = build(p, dnnl::algorithm::convolution_winograd, sets, &wino_why))
    add_cases(std::shared_ptr<Built>(std::move(b)), threads, " winograd", &out);
  return out;
}

#endif

}  // namespace ccbench
