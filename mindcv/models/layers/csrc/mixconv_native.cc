// MixConv on CPU as MindSpore AOT custom operators: one call runs every group of a mixed depthwise
// convolution (forward, backward-data, backward-weight), NCHW float32.
//
// The kernel is the fused (C, 1, E, E) kernel of mixconv_fused.py; channel c only uses taps
// [lo[c], E - lo[c]) in each direction (its group's own, centred window), so the work is k_g x k_g per
// channel as in the split form. Every function takes a config tensor (int32):
//   cfg = [stride, dilation, same_padding, E, lo[0], ..., lo[C - 1]]
// Output sizes are ceil(in / stride) for both paddings. One exported symbol per stride (its output shape
// depends on the stride only), so MindSpore never merges two ops of different geometry.
//
// Every (sample, channel) plane is copied once into a zero-padded buffer split into S x S phases
// (phase (pr, pc) holds padded pixel (i * S + pr, j * S + pc) at (i, j)), so each tap reads a contiguous
// run of the buffer for stride 1 and 2 alike. Forward and backward-data accumulate blocks of 8 or 16
// outputs in registers over all taps of a channel's window (backward-data gathers per phase of the
// input, so it never scatters); backward-weight takes one long dot product per tap over the whole
// plane (the gradient copied to the buffer's row pitch, zeros beyond the row). OpenMP splits the
// planes (forward, backward-data) or the channels (backward-weight) over the cores.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// Blocks of NV x 8 outputs are accumulated in NV 8-float vectors (GCC vector extensions: AVX2 or
// AVX-512 with -march=native, plain SSE otherwise), so the accumulators stay in registers over all taps.
// NV = 2 in general, 1 for rows of at most 8 outputs (less wasted work on 7 x 7 planes).
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
  int64_t e;                // fused kernel size
  int64_t dil;              // dilation between taps
  int64_t pad_top, pad_left;
  int64_t hq, wq;           // rows and columns of one phase (covering every input and every tap)
  int64_t phase_size;       // floats per phase, with slack for whole-block reads
  const int32_t *lo;        // first tap of each channel's window
};

// Geometry from the input and output shapes, the kernel size and the config tensor.
template <int S>
Geometry MakeGeometry(const int64_t *in_shape, const int64_t *out_shape, int64_t e, const int32_t *cfg) {
  Geometry g;
  g.n = in_shape[0];
  g.c = in_shape[1];
  g.h = in_shape[2];
  g.w = in_shape[3];
  g.oh = out_shape[2];
  g.ow = out_shape[3];
  g.e = e;
  g.dil = cfg[1];
  const int64_t span = g.dil * (e - 1) + 1;
  if (cfg[2] != 0) {  // TensorFlow SAME: the odd pixel of padding goes to the bottom / right
    g.pad_top = std::max<int64_t>((g.oh - 1) * S + span - g.h, 0) / 2;
    g.pad_left = std::max<int64_t>((g.ow - 1) * S + span - g.w, 0) / 2;
  } else {
    g.pad_top = g.pad_left = g.dil * (e - 1) / 2;
  }
  const int64_t rows = std::max((g.oh - 1) * S + span, g.h + g.pad_top);
  const int64_t cols = std::max((g.ow - 1) * S + span, g.w + g.pad_left);
  g.hq = (rows + S - 1) / S + 1;
  g.wq = (cols + S - 1) / S;
  g.phase_size = g.hq * g.wq + 2 * kBlock;
  g.lo = cfg + 4;
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

// One output plane: blocks of outputs accumulated in registers over the channel's window.
template <int S, int NV>
void ForwardPlane(const Geometry &g, const float *buf, const float *kernel, int64_t lo, float *out) {
  const int64_t hi = g.e - lo, width = NV * kLanes;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    for (int64_t x0 = 0; x0 < g.ow; x0 += width) {
      Block<NV> block;
      const float *base = buf + oy * g.wq + x0;
      for (int64_t ky = lo; ky < hi; ++ky) {
        for (int64_t kx = lo; kx < hi; ++kx) block.MultiplyAdd(kernel[ky * g.e + kx], base + TapOffset<S>(g, ky, kx));
      }
      block.Store(std::min(width, g.ow - x0), out + oy * g.ow + x0, 1);
    }
  }
}

template <int S>
void Forward(const Geometry &g, const float *x, const float *wt, float *y) {
  const int64_t planes = g.n * g.c;
#pragma omp parallel
  {
    std::vector<float> buf(S * S * g.phase_size);
#pragma omp for schedule(static)
    for (int64_t plane = 0; plane < planes; ++plane) {
      const int64_t c = plane % g.c;
      PadPlane<S>(g, x + plane * g.h * g.w, buf.data());
      if (g.ow <= kLanes) {
        ForwardPlane<S, 1>(g, buf.data(), wt + c * g.e * g.e, g.lo[c], y + plane * g.oh * g.ow);
      } else {
        ForwardPlane<S, 2>(g, buf.data(), wt + c * g.e * g.e, g.lo[c], y + plane * g.oh * g.ow);
      }
    }
  }
}

// Backward-data of one plane, gathered per phase of the input: padded input pixel (a * S + pr, b * S + pc)
// receives w[ky][kx] * dy[a - u][b - v] from every tap with ky * dil = u * S + pr, kx * dil = v * S + pc.
// `grad` is dy with `margin` zero rows / columns before it and row pitch `pitch`.
template <int S, int NV>
void BackwardDataPlane(const Geometry &g, const float *grad, int64_t margin, int64_t pitch, const float *kernel,
                       int64_t lo, float *out) {
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
          for (int64_t ky = lo; ky < hi; ++ky) {
            const int64_t r = ky * g.dil;
            if (r % S != pr) continue;
            const float *row = grad + (a - r / S + margin) * pitch + margin + b0;
            for (int64_t kx = lo; kx < hi; ++kx) {
              const int64_t col = kx * g.dil;
              if (col % S != pc) continue;
              block.MultiplyAdd(kernel[ky * g.e + kx], row - col / S);
            }
          }
          block.Store(std::min(NV * kLanes, j_hi - b0), out + iy * g.w + b0 * S + pc - g.pad_left, S);
        }
      }
    }
  }
}

template <int S>
void BackwardData(const Geometry &g, const float *dy, const float *wt, float *dx) {
  const int64_t planes = g.n * g.c;
  const int64_t margin = (g.e - 1) * g.dil / S;
  const int64_t rows = g.hq + 2 * margin + 1, pitch = g.wq + 2 * margin + kBlock;
#pragma omp parallel
  {
    std::vector<float> grad(rows * pitch);
#pragma omp for schedule(static)
    for (int64_t plane = 0; plane < planes; ++plane) {
      const int64_t c = plane % g.c;
      std::fill(grad.begin(), grad.end(), 0.0f);
      const float *src = dy + plane * g.oh * g.ow;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        std::memcpy(grad.data() + (oy + margin) * pitch + margin, src + oy * g.ow, sizeof(float) * g.ow);
      }
      float *out = dx + plane * g.h * g.w;
      std::fill(out, out + g.h * g.w, 0.0f);
      if (g.w <= kLanes * S) {
        BackwardDataPlane<S, 1>(g, grad.data(), margin, pitch, wt + c * g.e * g.e, g.lo[c], out);
      } else {
        BackwardDataPlane<S, 2>(g, grad.data(), margin, pitch, wt + c * g.e * g.e, g.lo[c], out);
      }
    }
  }
}

template <int S>
void BackwardWeight(const Geometry &g, const float *x, const float *dy, float *dw) {
  const int64_t taps = g.e * g.e, length = g.oh * g.wq;
#pragma omp parallel
  {
    std::vector<float> buf(S * S * g.phase_size);
    std::vector<float> grad(length);
    std::vector<double> acc(taps);
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < g.c; ++c) {
      const int64_t lo = g.lo[c], hi = g.e - lo;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t n = 0; n < g.n; ++n) {
        const int64_t plane = n * g.c + c;
        PadPlane<S>(g, x + plane * g.h * g.w, buf.data());
        std::fill(grad.begin(), grad.end(), 0.0f);
        const float *src = dy + plane * g.oh * g.ow;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          std::memcpy(grad.data() + oy * g.wq, src + oy * g.ow, sizeof(float) * g.ow);
        }
        for (int64_t ky = lo; ky < hi; ++ky) {
          for (int64_t kx = lo; kx < hi; ++kx) {
            const float *in = buf.data() + TapOffset<S>(g, ky, kx);
            const float *gr = grad.data();
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int64_t i = 0; i < length; ++i) sum += gr[i] * in[i];
            acc[ky * g.e + kx] += sum;
          }
        }
      }
      float *out = dw + c * taps;
      for (int64_t t = 0; t < taps; ++t) out[t] = static_cast<float>(acc[t]);
    }
  }
}

bool IsType(const char *dtype, const char *name) { return std::strcmp(dtype, name) == 0; }

// Checks shared by the entry points: `nparam` tensors (the last is the output), float32 data, and an
// int32 config of length 4 + C at `cfg_index`.
bool ValidCall(int nparam, int expected, int *ndims, int64_t **shapes, const char **dtypes, int cfg_index,
               int64_t channels) {
  if (nparam != expected || ndims[cfg_index] != 1 || !IsType(dtypes[cfg_index], "int32")) return false;
  if (shapes[cfg_index][0] != 4 + channels) return false;
  for (int i = 0; i < nparam; ++i) {
    if (i != cfg_index && (ndims[i] != 4 || !IsType(dtypes[i], "float32"))) return false;
  }
  return true;
}

// Forward: params = x (N, C, H, W), w (C, 1, E, E), cfg, y (N, C, OH, OW).
template <int S>
int ForwardEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (!ValidCall(nparam, 4, ndims, shapes, dtypes, 2, shapes[0][1])) return 1;
  const int32_t *cfg = static_cast<const int32_t *>(params[2]);
  if (cfg[0] != S) return 2;
  const Geometry g = MakeGeometry<S>(shapes[0], shapes[3], shapes[1][2], cfg);
  Forward<S>(g, static_cast<const float *>(params[0]), static_cast<const float *>(params[1]),
             static_cast<float *>(params[3]));
  return 0;
}

// Backward-data: params = dy (N, C, OH, OW), w, cfg, x (only its shape is used), dx (N, C, H, W).
template <int S>
int BackwardDataEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (!ValidCall(nparam, 5, ndims, shapes, dtypes, 2, shapes[0][1])) return 1;
  const int32_t *cfg = static_cast<const int32_t *>(params[2]);
  if (cfg[0] != S) return 2;
  const Geometry g = MakeGeometry<S>(shapes[4], shapes[0], shapes[1][2], cfg);
  BackwardData<S>(g, static_cast<const float *>(params[0]), static_cast<const float *>(params[1]),
                  static_cast<float *>(params[4]));
  return 0;
}

// Backward-weight: params = x, dy, cfg, w (only its shape is used), dw (C, 1, E, E).
template <int S>
int BackwardWeightEntry(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (!ValidCall(nparam, 5, ndims, shapes, dtypes, 2, shapes[0][1])) return 1;
  const int32_t *cfg = static_cast<const int32_t *>(params[2]);
  if (cfg[0] != S) return 2;
  const Geometry g = MakeGeometry<S>(shapes[0], shapes[1], shapes[4][2], cfg);
  BackwardWeight<S>(g, static_cast<const float *>(params[0]), static_cast<const float *>(params[1]),
                    static_cast<float *>(params[4]));
  return 0;
}

}  // namespace

#define MIXCONV_EXPORT(name, entry, S)                                                                  \
  extern "C" int name(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, \
                      void *, void *) {                                                              \
    return entry<S>(nparam, params, ndims, shapes, dtypes);                                          \
  }

MIXCONV_EXPORT(mixconv_fwd_s1, ForwardEntry, 1)
MIXCONV_EXPORT(mixconv_fwd_s2, ForwardEntry, 2)
MIXCONV_EXPORT(mixconv_bwd_data_s1, BackwardDataEntry, 1)
MIXCONV_EXPORT(mixconv_bwd_data_s2, BackwardDataEntry, 2)
MIXCONV_EXPORT(mixconv_bwd_weight_s1, BackwardWeightEntry, 1)
MIXCONV_EXPORT(mixconv_bwd_weight_s2, BackwardWeightEntry, 2)
