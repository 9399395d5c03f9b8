#include "block_cache.h"

#include <cstdlib>
#include <deque>
#include <mutex>
#include <new>

namespace ccjs {
namespace {

// Below this, malloc serves blocks from memory it already holds: nothing to gain.
constexpr size_t kMinBytes = size_t(64) << 10;
// Idle memory the cache may hold at most, whatever the sizes: the most recently released blocks.
constexpr size_t kMaxBytes = size_t(64) << 20;
constexpr size_t kMaxBlocks = 8;

struct Cache {
  struct Entry {
    float* p;
    size_t bytes;
  };
  std::mutex mu;
  std::deque<Entry> idle;  // oldest first
  size_t bytes = 0;
};

// Never destroyed: finalizers of outputs still alive at exit may release blocks after static
// destructors ran. What it holds stays reachable (not a leak to LeakSanitizer).
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}

}  // namespace

Block acquire_block(size_t elems) {
  if (elems > size_t(-1) / sizeof(float)) return Block(nullptr, BlockRelease{0});
  // 64-byte aligned and sized (workspaces are cut into 64-byte aligned parts).
  const size_t bytes = ((elems ? elems : 1) * sizeof(float) + 63) / 64 * 64;
  if (bytes >= kMinBytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    for (auto it = c.idle.rbegin(); it != c.idle.rend(); ++it) {
      if (it->bytes != bytes) continue;
      float* p = it->p;
      c.bytes -= bytes;
      c.idle.erase(std::next(it).base());
      return Block(p, BlockRelease{bytes});
    }
  }
  return Block(static_cast<float*>(std::aligned_alloc(64, bytes)), BlockRelease{bytes});
}

void release_block(float* p, size_t bytes) {
  if (!p) return;
  if (bytes >= kMinBytes && bytes <= kMaxBytes) {
    Cache& c = cache();
    std::deque<Cache::Entry> evicted;
    {
      std::lock_guard<std::mutex> lock(c.mu);
      c.idle.push_back({p, bytes});
      c.bytes += bytes;
      while (c.bytes > kMaxBytes || c.idle.size() > kMaxBlocks) {
        evicted.push_back(c.idle.front());
        c.bytes -= c.idle.front().bytes;
        c.idle.pop_front();
      }
    }
    for (const auto& e : evicted) std::free(e.p);  // outside the lock
    return;
  }
  std::free(p);
}

void BlockRelease::operator()(float* p) const { release_block(p, bytes); }

}  // namespace ccjs
