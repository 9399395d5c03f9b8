// The ordered algorithm registry (as oneDNN's implementation lists): every way to compute a problem,
// one entry per algorithm and direction, each in its own file under native/algos. plan() walks it in
// order: 'auto' takes the first entry that can run the problem and prefers it; a forced name takes
// the entry of that name for the problem's direction. A new algorithm is one file plus one line in
// registry.cpp.
#pragma once
#include <cstddef>

#include "plan.h"

namespace cc {

struct KernelSet;

struct Algorithm {
  const char* name;  // what options.algorithm calls it; shared by the entries of one method in each direction
  Direction direction;
  // Why this algorithm cannot compute p, or null when it can (plan() may still refuse, see below).
  const char* (*unsupported)(const ConvProblem& p);
  // Whether 'auto' takes it for p (asked in registry order, only where unsupported(p) is null).
  bool (*preferred)(const ConvProblem& p, const KernelSet& k);
  // Fixes the blocking (pl.get<...>()), pl.threads (at most pl.threads as given) and
  // pl.scratch_bytes. False when p passes this algorithm's limits (a buffer cap): 'auto' moves on.
  bool (*plan)(Plan& pl);
  // Computes pl.problem with `threads` threads (<= pl.threads). args.w is in OIHW; args.packed holds
  // the prepacked weights when pack_format is set; backward-weights writes dw in OIHW. scratch:
  // pl.scratch_bytes, 64-byte aligned.
  void (*run)(const Plan& pl, const RunArgs& args, float* scratch, int threads);
  // Weights packed once for many runs: identifies the packed layout p's run reads (entries sharing a
  // layout return the same pointer; it may differ by precision), its size and the packer, which reads
  // OIHW weights. Null: this algorithm reads OIHW.
  const void* (*pack_format)(const ConvProblem& p);
  size_t (*packed_bytes)(const Plan& pl);
  void (*prepack)(const Plan& pl, const float* w_oihw, float* dst, int threads);
};

// Every entry, in preference order.
const Algorithm* const* algorithms(size_t* count);

// The distinct names of the entries, in registry order: options.algorithm's values (besides
// 'auto'), backendInfo().algorithms; a PlanOptions::algorithm indexes this list.
const std::vector<const char*>& algorithm_names();

// The index of `name` in algorithm_names(), or -1.
int algorithm_index(const char* name);

}  // namespace cc
