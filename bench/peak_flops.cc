// pbmem_peak_flops: measures this machine's f32 multiply-add peak (GFLOP/s) on 1..N threads, so
// benchmarks quote a fraction of a peak measured here rather than a datasheet number.
//
// Each thread runs independent chains of vector FMAs (enough chains to cover the FMA latency on
// every FMA pipe) for a fixed count, on the widest vector unit the CPU has (AVX-512, AVX2+FMA or
// the baseline), chosen at run time, so the binary stays portable. Best of several repeats.
// Output: one JSON object {"isa", "threads", "gflops_per_s", "per_thread_gflops_per_s"}.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

constexpr int kChains = 10;              // independent FMA chains: latency 4-5 x 2 pipes
constexpr long kIterations = 20000000;   // per thread and repeat
constexpr int kRepeats = 5;
constexpr double kFlopsPerFma = 2;
constexpr double kGiga = 1e9;

template <int kBytes>
struct Vec {
  typedef float type __attribute__((vector_size(kBytes)));
  static constexpr int kLanes = kBytes / static_cast<int>(sizeof(float));
};

// Returns a value that depends on every chain, so the compiler keeps all the work.
template <int kBytes>
__attribute__((always_inline)) inline float fma_chains(long iterations, float seed) {
  using V = typename Vec<kBytes>::type;
  V acc[kChains];
  V mul, add;
  for (int l = 0; l < Vec<kBytes>::kLanes; ++l) {
    mul[l] = 0.999999f;
    add[l] = 1e-7f * seed;
  }
  for (int c = 0; c < kChains; ++c) {
    for (int l = 0; l < Vec<kBytes>::kLanes; ++l) acc[c][l] = seed + static_cast<float>(c + l);
  }
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 10
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * mul + add;
  }
  float sum = 0;
  for (int c = 0; c < kChains; ++c) {
    for (int l = 0; l < Vec<kBytes>::kLanes; ++l) sum += acc[c][l];
  }
  return sum;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f"))) float run_avx512(long n, float s) { return fma_chains<64>(n, s); }
__attribute__((target("avx2,fma"))) float run_avx2(long n, float s) { return fma_chains<32>(n, s); }
#endif
float run_baseline(long n, float s) { return fma_chains<16>(n, s); }

struct Isa {
  const char* name;
  int lanes;
  float (*run)(long, float);
};

Isa pick_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {"avx512f", 16, run_avx512};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {"avx2+fma", 8, run_avx2};
#endif
  return {"baseline (128-bit)", 4, run_baseline};
}

double measure(const Isa& isa, int threads, float* sink) {
  double best = 0;
  for (int r = 0; r < kRepeats; ++r) {
    auto start = std::chrono::steady_clock::now();
    float total = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : total)
#endif
    total += isa.run(kIterations, static_cast<float>(r + 1));
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    *sink += total;
    double flops = kFlopsPerFma * kChains * isa.lanes * static_cast<double>(kIterations) * threads;
    if (flops / seconds > best) best = flops / seconds;
  }
  return best / kGiga;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_num_procs();
#endif
  if (argc > 1) {
    char* end = nullptr;
    long given = std::strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || given < 1 || given > 4096) {
      std::fprintf(stderr, "usage: pbmem_peak_flops [THREADS >= 1]\n");
      return 1;
    }
    threads = static_cast<int>(given);
  }
  Isa isa = pick_isa();
  float sink = 0;
  double one = measure(isa, 1, &sink);
  double all = threads == 1 ? one : measure(isa, threads, &sink);
  std::printf("{\"isa\": \"%s\", \"threads\": %d, \"gflops_per_s\": %.1f, "
              "\"per_thread_gflops_per_s\": %.1f, \"checksum\": %g}\n",
              isa.name, threads, all, one, static_cast<double>(sink));
  return 0;
}
