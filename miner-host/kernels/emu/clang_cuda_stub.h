// Stand-in for NVRTC's implicit builtins, used only by emu/device-check: clang compiles the
// kernel text as CUDA device code (to PTX) without a CUDA toolkit. Not used by any build.
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __host__ __attribute__((host))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
#include <__clang_cuda_builtin_vars.h>
__device__ inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return __nvvm_mulhi_ui(a, b);
}
__device__ inline int __dp4a(int a, int b, int c) {
    int r;
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}
__device__ inline void __syncwarp(unsigned int mask = 0xffffffffu) { __nvvm_bar_warp_sync(mask); }
