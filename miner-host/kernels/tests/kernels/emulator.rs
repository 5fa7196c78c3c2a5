//! The emulator's own primitives: warp shuffles of every flavour.

use cuda_kernels::emulated;

#[test]
fn shuffles_exchange_within_each_warp() {
    for threads in [32u32, 96, 256] {
        let got = emulated::selftest_shuffles(threads).unwrap();
        let value = |t: u32| 1000 * (t / 32) + 3 * (t % 32) + 1;
        for t in 0..threads {
            let (warp, lane) = (t / 32 * 32, t % 32);
            let from = |l: u32| value(warp + l);
            let wide = (u64::from(from(31 - lane)) << 32) | u64::from(from(31 - lane) ^ u32::MAX);
            let want = [
                from((7 * lane + 3) % 32),
                if lane + 5 < 32 {
                    from(lane + 5)
                } else {
                    from(lane)
                },
                if lane >= 3 {
                    from(lane - 3)
                } else {
                    from(lane)
                },
                from(lane ^ 13),
                wide as u32,
                (wide >> 32) as u32,
            ];
            let at = 6 * t as usize;
            assert_eq!(got[at..at + 6], want, "threads {threads}, thread {t}");
        }
    }
}
