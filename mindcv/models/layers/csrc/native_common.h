// Shared parts of the native CPU operators (MindSpore AOT custom ops, NCHW float32): register-blocked
// accumulation, the phased zero-padded plane layout, and a small thread pool.
//
// Layout: every (sample, channel) plane is copied once into a zero-padded buffer split into S x S phases
// (phase (pr, pc) holds padded pixel (i * S + pr, j * S + pc) at (i, j)), so each kernel tap reads a
// contiguous run of the buffer for stride 1 and 2 alike.
//
// Threads: a persistent pool whose idle workers block on a condition variable. It replaces OpenMP, whose
// threads spin after each kernel (taking the cores from MindSpore's own kernels that run next) unless
// OMP_WAIT_POLICY is set in the environment before libgomp loads - which a library must not do.
// MINDCV_NATIVE_THREADS (read, never written) caps the thread count; default: the CPUs this process may use.
#ifndef MINDCV_NATIVE_COMMON_H_
#define MINDCV_NATIVE_COMMON_H_

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mindcv_native {

// Blocks of NV x 8 outputs are accumulated in NV 8-float vectors (GCC vector extensions: AVX2 or
// AVX-512 with -march=native, plain SSE otherwise), so the accumulators stay in registers over all taps.
typedef float Vec __attribute__((vector_size(32)));
constexpr int64_t kLanes = 8;
constexpr int64_t kBlock = 2 * kLanes;  // the widest block: slack the buffers keep for whole-block reads

inline Vec Load(const float *p) {
  Vec v;
  std::memcpy(&v, p, sizeof(Vec));
  return v;
}

template <int NV>
struct Block {
  Vec acc[NV] = {};

  // acc += weight * src[0 : NV * 8]
  inline void MultiplyAdd(float weight, const float *src) {
    for (int i = 0; i < NV; ++i) acc[i] += weight * Load(src + i * kLanes);
  }

  // The first `count` (<= NV * 8) outputs, `step` floats apart.
  inline void Store(int64_t count, float *dst, int64_t step) const {
    float values[NV * kLanes];
    std::memcpy(values, acc, sizeof(values));
    if (step == 1) {
      std::memcpy(dst, values, sizeof(float) * count);
    } else {
      for (int64_t t = 0; t < count; ++t) dst[t * step] = values[t];
    }
  }
};

// e^x for a vector of floats (V) with its int32 vector type (IV): x = n ln2 + r, |r| <= ln2 / 2, e^r by a degree-6
// polynomial (Cephes), 2^n by the exponent bits; relative error ~2e-7, inputs clamped to +-88.38.
template <typename V, typename IV>
inline V ExpVector(V x) {
  const V zero = {};
  const V hi = zero + 88.3762626647949f, lo = zero - 88.3762626647949f;
  x = x < hi ? x : hi;
  x = x > lo ? x : lo;
  const V t = x * 1.44269504088896341f + 0.5f;
  IV n = __builtin_convertvector(t, IV);  // truncates towards zero: floor needs a fix for t < 0
  V nf = __builtin_convertvector(n, V);
  const IV above = nf > t;                // -1 where the truncation rounded up
  n += above;
  nf += __builtin_convertvector(above, V);
  const V r = x - nf * 0.693359375f + nf * 2.12194440e-4f;
  const V z = r * r;
  V p = zero + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  const IV bits = (n + 127) << 23;
  V scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// Floor of a / b for b > 0 (C++ division truncates towards zero).
inline int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Phase columns j whose input column j * S + pc - pad_left lies in [0, w): [first, last).
template <int S>
inline void PhaseColumns(int64_t w, int64_t pad_left, int64_t pc, int64_t wq, int64_t *first, int64_t *last) {
  *first = std::max<int64_t>(0, FloorDiv(pad_left - pc + S - 1, S));
  *last = std::min(wq, FloorDiv(w - 1 + pad_left - pc, S) + 1);
}

struct Geometry {
  int64_t n, c, h, w;       // input
  int64_t oh, ow;           // output
  int64_t e;                // kernel size
  int64_t dil;              // dilation between taps
  int64_t pad_top, pad_left;
  int64_t hq, wq;           // rows and columns of one phase (covering every input and every tap)
  int64_t phase_size;       // floats per phase, with slack for whole-block reads
};

// Padding before the first row (or column) of a convolution whose taps span `span` input pixels, input size `in`,
// output size `out`, stride S: TensorFlow SAME (the odd pixel to the bottom / right) or symmetric (span - 1) / 2.
inline int64_t PadBefore(int64_t in, int64_t out, int64_t stride, int64_t span, bool same) {
  return same ? std::max<int64_t>((out - 1) * stride + span - in, 0) / 2 : (span - 1) / 2;
}

// Geometry from the input and output shapes, the kernel size, the dilation and the padding rule
// (TensorFlow SAME, the odd pixel to the bottom / right, or symmetric dil * (e - 1) / 2).
template <int S>
Geometry MakeGeometry(const int64_t *in_shape, const int64_t *out_shape, int64_t e, int64_t dil, bool same) {
  Geometry g;
  g.n = in_shape[0];
  g.c = in_shape[1];
  g.h = in_shape[2];
  g.w = in_shape[3];
  g.oh = out_shape[2];
  g.ow = out_shape[3];
  g.e = e;
  g.dil = dil;
  const int64_t span = g.dil * (e - 1) + 1;
  g.pad_top = PadBefore(g.h, g.oh, S, span, same);
  g.pad_left = PadBefore(g.w, g.ow, S, span, same);
  const int64_t rows = std::max((g.oh - 1) * S + span, g.h + g.pad_top);
  const int64_t cols = std::max((g.ow - 1) * S + span, g.w + g.pad_left);
  g.hq = (rows + S - 1) / S + 1;
  g.wq = (cols + S - 1) / S;
  g.phase_size = g.hq * g.wq + 2 * kBlock;
  return g;
}

// Zero-padded copy of one input plane in S x S phases (every float of the buffer is written).
template <int S>
void PadPlane(const Geometry &g, const float *plane, float *buf) {
  for (int pr = 0; pr < S; ++pr) {
    for (int pc = 0; pc < S; ++pc) {
      float *phase = buf + (pr * S + pc) * g.phase_size;
      int64_t j_lo, j_hi;
      PhaseColumns<S>(g.w, g.pad_left, pc, g.wq, &j_lo, &j_hi);
      const int64_t shift = pc - g.pad_left;
      for (int64_t i = 0; i < g.hq; ++i) {
        float *row = phase + i * g.wq;
        const int64_t iy = i * S + pr - g.pad_top;
        if (iy < 0 || iy >= g.h || j_lo >= j_hi) {
          std::memset(row, 0, sizeof(float) * g.wq);
          continue;
        }
        const float *src = plane + iy * g.w + shift;
        std::memset(row, 0, sizeof(float) * j_lo);
        if (S == 1) {
          std::memcpy(row + j_lo, src + j_lo, sizeof(float) * (j_hi - j_lo));
        } else {
          for (int64_t j = j_lo; j < j_hi; ++j) row[j] = src[j * S];
        }
        std::memset(row + j_hi, 0, sizeof(float) * (g.wq - j_hi));
      }
      std::memset(phase + g.hq * g.wq, 0, sizeof(float) * (g.phase_size - g.hq * g.wq));
    }
  }
}

// Offset in the phased buffer of tap (ky, kx) for output (0, 0).
template <int S>
inline int64_t TapOffset(const Geometry &g, int64_t ky, int64_t kx) {
  const int64_t r = ky * g.dil, col = kx * g.dil;
  return ((r % S) * S + col % S) * g.phase_size + (r / S) * g.wq + col / S;
}

// One output plane: blocks of outputs accumulated in registers over `terms` input planes (phased buffers
// `plane_stride` floats apart, kernels `kernel_stride` apart) and the taps of the window [lo, e - lo)^2.
template <int S, int NV>
void ForwardPlane(const Geometry &g, const float *buf, int64_t plane_stride, int64_t terms, const float *kernel,
                  int64_t kernel_stride, int64_t lo, float *out) {
  const int64_t hi = g.e - lo, width = NV * kLanes;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    for (int64_t x0 = 0; x0 < g.ow; x0 += width) {
      Block<NV> block;
      for (int64_t t = 0; t < terms; ++t) {
        const float *base = buf + t * plane_stride + oy * g.wq + x0;
        const float *k = kernel + t * kernel_stride;
        for (int64_t ky = lo; ky < hi; ++ky) {
          for (int64_t kx = lo; kx < hi; ++kx) block.MultiplyAdd(k[ky * g.e + kx], base + TapOffset<S>(g, ky, kx));
        }
      }
      block.Store(std::min(width, g.ow - x0), out + oy * g.ow + x0, 1);
    }
  }
}

// An output-gradient plane with `margin` zero rows / columns before it, row pitch `pitch`.
struct GradLayout {
  int64_t margin, rows, pitch, plane_size;
};

template <int S>
GradLayout MakeGradLayout(const Geometry &g) {
  GradLayout l;
  l.margin = (g.e - 1) * g.dil / S;
  l.rows = g.hq + 2 * l.margin + 1;
  l.pitch = g.wq + 2 * l.margin + kBlock;
  l.plane_size = l.rows * l.pitch;
  return l;
}

inline void CopyGrad(const Geometry &g, const GradLayout &l, const float *src, float *grad) {
  std::fill(grad, grad + l.plane_size, 0.0f);
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    std::memcpy(grad + (oy + l.margin) * l.pitch + l.margin, src + oy * g.ow, sizeof(float) * g.ow);
  }
}

// An output-gradient plane at the phased buffer's row pitch (zeros beyond each row): oh * wq floats.
inline void CopyGradRows(const Geometry &g, const float *src, float *grad) {
  std::fill(grad, grad + g.oh * g.wq, 0.0f);
  for (int64_t oy = 0; oy < g.oh; ++oy) std::memcpy(grad + oy * g.wq, src + oy * g.ow, sizeof(float) * g.ow);
}

inline float Dot(const float *a, const float *b, int64_t length) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < length; ++i) sum += a[i] * b[i];
  return sum;
}

// Backward-data of one input plane, gathered per phase of the input: padded input pixel
// (a * S + pr, b * S + pc) receives w[ky][kx] * dy[a - u][b - v] from every tap with ky * dil = u * S + pr,
// kx * dil = v * S + pc, summed over `terms` gradient planes (GradLayout, `grad_stride` floats apart) and
// their kernels (`kernel_stride` apart). `out` must be zero on entry.
template <int S, int NV>
void BackwardDataPlane(const Geometry &g, const GradLayout &l, const float *grad, int64_t grad_stride,
                       int64_t terms, const float *kernel, int64_t kernel_stride, int64_t lo, float *out) {
  const int64_t hi = g.e - lo;
  for (int pr = 0; pr < S; ++pr) {
    for (int pc = 0; pc < S; ++pc) {
      int64_t j_lo, j_hi;
      PhaseColumns<S>(g.w, g.pad_left, pc, g.wq, &j_lo, &j_hi);
      for (int64_t a = 0; a < g.hq; ++a) {
        const int64_t iy = a * S + pr - g.pad_top;
        if (iy < 0 || iy >= g.h) continue;
        for (int64_t b0 = j_lo; b0 < j_hi; b0 += NV * kLanes) {
          Block<NV> block;
          for (int64_t t = 0; t < terms; ++t) {
            const float *plane = grad + t * grad_stride;
            const float *k = kernel + t * kernel_stride;
            for (int64_t ky = lo; ky < hi; ++ky) {
              const int64_t r = ky * g.dil;
              if (r % S != pr) continue;
              const float *row = plane + (a - r / S + l.margin) * l.pitch + l.margin + b0;
              for (int64_t kx = lo; kx < hi; ++kx) {
                const int64_t col = kx * g.dil;
                if (col % S != pc) continue;
                block.MultiplyAdd(k[ky * g.e + kx], row - col / S);
              }
            }
          }
          block.Store(std::min(NV * kLanes, j_hi - b0), out + iy * g.w + b0 * S + pc - g.pad_left, S);
        }
      }
    }
  }
}

// A per-thread scratch buffer of at least `size` elements (slot: several buffers per thread).
template <typename T, int SLOT>
T *Scratch(size_t size) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return buffer.data();
}

// Persistent worker threads; ParallelFor hands out chunks of [0, count) through an atomic counter, the
// calling thread taking part. Calls from several threads at once are safe: a call that finds the pool
// busy runs on its own thread; so does a call in a forked child (which has none of the workers).
class ThreadPool {
 public:
  static ThreadPool &Instance() {
    static ThreadPool *pool = new ThreadPool();  // never destroyed: workers may still wait at exit
    return *pool;
  }

  void ParallelFor(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)> &body) {
    if (count <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (workers_ == 0 || !busy.owns_lock() || count <= grain || getpid() != owner_) {
      body(0, count);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      count_ = count;
      grain_ = grain;
      next_.store(0);
      active_ = workers_;
      ++generation_;
    }
    wake_.notify_all();
    Work(body, count, grain);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return active_ == 0; });
  }

 private:
  ThreadPool() {
    int threads = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) threads = CPU_COUNT(&set);
    if (const char *cap = std::getenv("MINDCV_NATIVE_THREADS")) {
      const int value = std::atoi(cap);
      if (value > 0) threads = std::min(threads, value);
    }
    workers_ = std::max(threads, 1) - 1;
    owner_ = getpid();
    for (int i = 0; i < workers_; ++i) std::thread([this] { Loop(); }).detach();
  }

  void Work(const std::function<void(int64_t, int64_t)> &body, int64_t count, int64_t grain) {
    for (;;) {
      const int64_t begin = next_.fetch_add(grain);
      if (begin >= count) return;
      body(begin, std::min(count, begin + grain));
    }
  }

  void Loop() {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int64_t, int64_t)> *body;
      int64_t count, grain;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        body = body_;
        count = count_;
        grain = grain_;
      }
      Work(*body, count, grain);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--active_ == 0) done_.notify_one();
    }
  }

  int workers_ = 0;
  pid_t owner_ = 0;  // the process whose threads the workers are
  std::mutex run_mutex_;  // one ParallelFor at a time
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  uint64_t generation_ = 0;
  const std::function<void(int64_t, int64_t)> *body_ = nullptr;
  int64_t count_ = 0, grain_ = 1;
  std::atomic<int64_t> next_{0};
  int active_ = 0;
};

// Runs body(item) for every item of [0, count) on the pool.
template <typename F>
void ParallelItems(int64_t count, F body) {
  ThreadPool::Instance().ParallelFor(count, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(i);
  });
}

inline bool IsType(const char *dtype, const char *name) { return std::strcmp(dtype, name) == 0; }

}  // namespace mindcv_native

#endif  // MINDCV_NATIVE_COMMON_H_
