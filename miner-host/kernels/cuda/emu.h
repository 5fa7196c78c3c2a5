// Grid emulator: lets the CUDA kernels of this folder compile and run as plain C++20 on the
// host, so their logic is tested bit for bit without a GPU.
//
// Included by common.cuh only when neither NVRTC (__CUDACC_RTC__) nor nvcc (__CUDACC__) is
// compiling, so the kernel text NVRTC compiles on a GPU machine is exactly the text tested here.
//
// Model
// -----
// * `launch(grid, block, kernel, args...)` runs the blocks of the grid one after another (x
//   fastest, then y, then z). Inside a block every CUDA thread runs on ITS OWN REAL OS THREAD
//   (a std::thread), all at the same time, and the block ends when all of them have returned.
//   The OS threads come from a pool that grows to the largest block size seen and is reused by
//   later blocks (creating thousands of threads per launch would dominate the test time).
// * `__syncthreads()` is a real `std::barrier` over the block's threads; a thread that returns
//   from the kernel drops out of it (`arrive_and_drop`), as an exited thread does on a GPU.
// * Warp shuffles (`__shfl_sync`, `__shfl_down_sync`, `__shfl_xor_sync`, `__shfl_up_sync`) and
//   `__syncwarp` use per-warp exchange arrays and a per-warp `std::barrier` (warps are threads
//   32·w .. 32·w + 31 of the block in linear thread order x + y·Dx + z·Dx·Dy, as on a GPU).
//   Every live lane of the warp must call the same shuffle (the emulator does not implement
//   partial masks: a lane missing from a shuffle deadlocks the warp, which a test then shows by
//   hanging, not by a wrong answer).
// * `__shared__` is `static`: one copy per kernel function, shared by the threads of the block.
//   That is correct because blocks run one after another and launches are serialised by a
//   global mutex (Rust runs tests on several threads at once). Shared memory therefore keeps its
//   contents from one block to the next; a kernel must never rely on that (CUDA gives no initial
//   value either).
// * Barriers synchronise memory (`arrive` happens-before the return of `wait`), so plain
//   shared-memory writes before `__syncthreads()` are visible after it, as on a GPU.
// * `Mode::sequential` runs the threads of a block one after another on the calling thread and
//   makes `__syncthreads()` a no-op and shuffles return the caller's own value: the "plain loop
//   over threads" that cannot honour barriers. It exists only so that a test can show that the
//   kernel tests would catch a missing barrier.
//
// Limits: at most 1024 threads per block (each a real OS thread, and every barrier phase wakes
// them all: keep test launches small, ≤ 256 threads per block); no dynamic shared memory, atomics, streams or texture memory;
// timing means nothing; device pointers are host pointers, so alignment is whatever the caller
// gives (the Rust wrappers hand out 256-byte aligned buffers like cudaMalloc). Integer
// behaviour matches the GPU because both are little-endian with 32-bit `int` and two's
// complement wrap-around for the unsigned arithmetic the kernels use.
#pragma once

#include <atomic>
#include <barrier>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#define GP_EMULATED 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static
#define __launch_bounds__(...)

struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1)
        : x(x_), y(y_), z(z_) {}
};

inline constexpr int warpSize = 32;

inline thread_local uint3 threadIdx = {0, 0, 0};
inline thread_local uint3 blockIdx = {0, 0, 0};
inline thread_local dim3 blockDim = dim3();
inline thread_local dim3 gridDim = dim3();

namespace gp_emu {

enum class Mode {
    // One real thread per CUDA thread, real barriers and shuffles.
    threads = 0,
    // A plain loop over the threads: barriers are no-ops. Only to prove tests catch that.
    sequential = 1,
};

struct Warp {
    std::barrier<> bar;
    // Two exchange arrays used alternately: a lane can only come back to the array of
    // shuffle n + 2 after every lane has passed the barrier of shuffle n + 1, hence after every
    // read of shuffle n, so one barrier phase per shuffle suffices.
    std::uint64_t slots[2][32];
    explicit Warp(std::ptrdiff_t lanes) : bar(lanes), slots{} {}
};

struct Block {
    std::barrier<> bar;
    Mode mode;
    std::vector<std::unique_ptr<Warp>> warps;
    Block(std::ptrdiff_t threads, Mode m) : bar(threads), mode(m) {}
};

struct ThreadState {
    Block* block = nullptr;
    Warp* warp = nullptr;
    unsigned lane = 0;
    unsigned parity = 0;  // which exchange array the next shuffle uses
};

inline thread_local ThreadState tls;
inline std::mutex launch_mutex;

inline ThreadState& state() {
    if (tls.block == nullptr) {
        // Only reachable by calling a device intrinsic outside a launch: a bug in the caller.
        std::fprintf(stderr, "gp_emu: device intrinsic called outside a kernel launch\n");
        std::abort();
    }
    return tls;
}

template <class T>
T exchange(T var, int src_lane) {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                  "the emulator shuffles trivially copyable values of at most 8 bytes");
    ThreadState& st = state();
    if (st.block->mode == Mode::sequential) {
        return var;
    }
    std::uint64_t bits = 0;
    std::memcpy(&bits, &var, sizeof(T));
    std::uint64_t* slots = st.warp->slots[st.parity];
    st.parity ^= 1u;
    slots[st.lane] = bits;
    st.warp->bar.arrive_and_wait();
    const std::uint64_t got = slots[src_lane & 31];
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}

}  // namespace gp_emu

inline unsigned int __lane_id_emu() { return gp_emu::state().lane; }

inline void __syncthreads() {
    gp_emu::ThreadState& st = gp_emu::state();
    if (st.block->mode == gp_emu::Mode::threads) {
        st.block->bar.arrive_and_wait();
    }
}

inline void __syncwarp(unsigned int mask = 0xffffffffu) {
    (void)mask;
    gp_emu::ThreadState& st = gp_emu::state();
    if (st.block->mode == gp_emu::Mode::threads) {
        st.warp->bar.arrive_and_wait();
    }
}

template <class T>
T __shfl_sync(unsigned int mask, T var, int src_lane, int width = warpSize) {
    (void)mask;
    const int lane = static_cast<int>(__lane_id_emu());
    const int base = lane & ~(width - 1);
    return gp_emu::exchange(var, base + (src_lane & (width - 1)));
}

template <class T>
T __shfl_down_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize) {
    (void)mask;
    const int lane = static_cast<int>(__lane_id_emu());
    const int in_segment = (lane & (width - 1)) + static_cast<int>(delta);
    return gp_emu::exchange(var, in_segment < width ? lane + static_cast<int>(delta) : lane);
}

template <class T>
T __shfl_up_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize) {
    (void)mask;
    const int lane = static_cast<int>(__lane_id_emu());
    const int in_segment = (lane & (width - 1)) - static_cast<int>(delta);
    return gp_emu::exchange(var, in_segment >= 0 ? lane - static_cast<int>(delta) : lane);
}

template <class T>
T __shfl_xor_sync(unsigned int mask, T var, int lane_mask, int width = warpSize) {
    (void)mask;
    const int lane = static_cast<int>(__lane_id_emu());
    const int src = lane ^ lane_mask;
    // A source in a later segment of `width` lanes returns the caller's own value (CUDA).
    return gp_emu::exchange(var, (src & ~(width - 1)) > (lane & ~(width - 1)) ? lane : src);
}

inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return static_cast<unsigned int>((static_cast<std::uint64_t>(a) * b) >> 32);
}

// Four signed byte products added to `c` (wrapping, as the hardware does).
inline int __dp4a(int a, int b, int c) {
    std::uint32_t acc = static_cast<std::uint32_t>(c);
    for (int i = 0; i < 4; ++i) {
        const int ai = static_cast<signed char>(static_cast<std::uint32_t>(a) >> (8 * i));
        const int bi = static_cast<signed char>(static_cast<std::uint32_t>(b) >> (8 * i));
        acc += static_cast<std::uint32_t>(ai * bi);
    }
    return static_cast<int>(acc);
}

// Four unsigned byte products added to `c`.
inline unsigned int __dp4a(unsigned int a, unsigned int b, unsigned int c) {
    for (int i = 0; i < 4; ++i) {
        c += ((a >> (8 * i)) & 0xffu) * ((b >> (8 * i)) & 0xffu);
    }
    return c;
}

namespace gp_emu {

inline void check_dims(dim3 grid, dim3 block) {
    const std::uint64_t threads = std::uint64_t{block.x} * block.y * block.z;
    if (block.x == 0 || block.y == 0 || block.z == 0 || threads > 1024 || block.z > 64) {
        throw std::invalid_argument("block dimensions must be non-zero, z <= 64, and hold at "
                                    "most 1024 threads");
    }
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535u ||
        grid.z > 65535u) {
        throw std::invalid_argument("grid dimensions must be non-zero, x < 2^31, y and z <= 65535");
    }
}

// A pool of OS threads, grown on demand up to the largest block launched and reused by every
// later block and launch (creating ~thousands of threads per launch would dominate the tests).
// `run(n, f)` runs f(0), …, f(n − 1) at the same time on n distinct pool threads and returns
// when all have returned. Used only under launch_mutex. The pool is never destroyed: its idle
// threads are detached and block on their semaphores until the process exits.
class Pool {
public:
    static Pool& get() {
        static Pool* pool = new Pool();
        return *pool;
    }

    void run(unsigned n, const std::function<void(unsigned)>& job) {
        grow(n);  // may throw std::system_error; then nothing has started
        job_ = &job;
        remaining_.store(n);
        for (unsigned i = 0; i < n; ++i) {
            workers_[i]->go.release();  // publishes job_ to worker i
        }
        std::unique_lock<std::mutex> lock(done_mutex_);
        done_cv_.wait(lock, [this] { return remaining_.load() == 0; });
        job_ = nullptr;
    }

private:
    struct Worker {
        std::binary_semaphore go{0};
    };

    void grow(unsigned n) {
        while (workers_.size() < n) {
            auto worker = std::make_unique<Worker>();
            Worker* raw = worker.get();
            const unsigned index = static_cast<unsigned>(workers_.size());
            std::thread([this, raw, index] { loop(raw, index); }).detach();
            workers_.push_back(std::move(worker));
        }
    }

    void loop(Worker* self, unsigned index) {
        for (;;) {
            self->go.acquire();
            (*job_)(index);
            if (remaining_.fetch_sub(1) == 1) {
                std::lock_guard<std::mutex> lock(done_mutex_);
                done_cv_.notify_one();
            }
        }
    }

    std::vector<std::unique_ptr<Worker>> workers_;
    const std::function<void(unsigned)>* job_ = nullptr;
    std::atomic<unsigned> remaining_{0};
    std::mutex done_mutex_;
    std::condition_variable done_cv_;
};

template <class Params, class Kernel>
void run_block(Mode mode, dim3 grid, dim3 block, uint3 block_idx, Kernel kernel,
               const Params& params) {
    const unsigned n = block.x * block.y * block.z;
    Block blk(static_cast<std::ptrdiff_t>(n), mode);
    for (unsigned w = 0; w * 32 < n; ++w) {
        const unsigned lanes = n - w * 32 < 32 ? n - w * 32 : 32;
        blk.warps.push_back(std::make_unique<Warp>(static_cast<std::ptrdiff_t>(lanes)));
    }
    auto enter = [&](unsigned linear) {
        threadIdx = uint3{linear % block.x, (linear / block.x) % block.y,
                          linear / (block.x * block.y)};
        blockIdx = block_idx;
        blockDim = block;
        gridDim = grid;
        tls = ThreadState{};
        tls.block = &blk;
        tls.warp = blk.warps[linear / 32].get();
        tls.lane = linear % 32;
    };
    if (mode == Mode::sequential) {
        for (unsigned t = 0; t < n; ++t) {
            enter(t);
            Params copy = params;
            std::apply(kernel, copy);
        }
        tls = ThreadState{};
        return;
    }
    const std::function<void(unsigned)> body = [&](unsigned linear) {
        enter(linear);
        Params copy = params;  // kernel arguments are passed by value, per thread
        std::apply(kernel, copy);
        // An exited thread no longer takes part in barriers, as on a GPU.
        tls.warp->bar.arrive_and_drop();
        blk.bar.arrive_and_drop();
        tls = ThreadState{};
    };
    Pool::get().run(n, body);
}

// Runs `kernel` over `grid` × `block` (see the header comment). Throws std::invalid_argument
// on bad dimensions and std::system_error if threads cannot be created.
template <class... P, class... A>
void launch_mode(Mode mode, dim3 grid, dim3 block, void (*kernel)(P...), A... args) {
    static_assert(sizeof...(P) == sizeof...(A), "wrong number of kernel arguments");
    check_dims(grid, block);
    const std::tuple<P...> params(static_cast<P>(args)...);
    std::lock_guard<std::mutex> lock(launch_mutex);
    for (unsigned z = 0; z < grid.z; ++z) {
        for (unsigned y = 0; y < grid.y; ++y) {
            for (unsigned x = 0; x < grid.x; ++x) {
                run_block(mode, grid, block, uint3{x, y, z}, kernel, params);
            }
        }
    }
}

template <class... P, class... A>
void launch(dim3 grid, dim3 block, void (*kernel)(P...), A... args) {
    launch_mode(Mode::threads, grid, block, kernel, args...);
}

}  // namespace gp_emu
