#pragma once
// Host blocks for the async call's private copies and output buffer, recycled through a small
// process-wide cache. Fresh multi-megabyte blocks cost page faults (the kernel zeroes each new page)
// on every call; a service repeating the same layer asks for the same sizes again and again, so the
// blocks of the previous call are handed out again instead (docs/PERF.md, "What was tried",
// output allocation).
#include <cstddef>
#include <memory>

namespace ccjs {

struct BlockRelease {
  size_t bytes = 0;
  void operator()(float* p) const;  // back to the cache, or freed
};
using Block = std::unique_ptr<float[], BlockRelease>;

// An uninitialized, 64-byte aligned block of `elems` floats (at least one), or an empty Block when
// memory is short.
Block acquire_block(size_t elems);

// Frees a block released from a Block (`Block::release()`), or keeps it for reuse. Thread-safe; for
// finalizers that only have the pointer and the byte count.
void release_block(float* p, size_t bytes);

}  // namespace ccjs
