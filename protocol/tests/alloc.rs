//! A header claiming 4 GiB is refused without allocating: measured with a counting allocator.
//!
//! This file holds a single test so no other test allocates concurrently.
// Test code: a failed unwrap or panic is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// A global allocator cannot be written without `unsafe`; this one only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use protocol::{FrameDecoder, MessageKind, ProtocolError};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
static TOTAL: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::SeqCst);
        TOTAL.fetch_add(layout.size(), Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::SeqCst);
        TOTAL.fetch_add(new_size, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn huge_header_allocates_nothing_large() {
    let mut decoder = FrameDecoder::new();
    let header = [MessageKind::Prepare.tag(), 0xff, 0xff, 0xff, 0xff];
    LARGEST.store(0, Ordering::SeqCst);
    TOTAL.store(0, Ordering::SeqCst);
    let result = decoder.push(&header);
    let largest = LARGEST.load(Ordering::SeqCst);
    let total = TOTAL.load(Ordering::SeqCst);
    assert!(matches!(
        result,
        Err(ProtocolError::FrameTooLarge {
            len: 0xffff_ffff,
            ..
        })
    ));
    assert!(
        largest < 4096 && total < 16 * 1024,
        "largest {largest}, total {total} bytes"
    );

    // A valid header claiming the full 8 MiB Prepare reserves nothing up front either: memory
    // grows only with bytes received.
    let mut decoder = FrameDecoder::new();
    let [a, b, c, d] = (MessageKind::Prepare.max_payload() as u32).to_le_bytes();
    LARGEST.store(0, Ordering::SeqCst);
    decoder
        .push(&[MessageKind::Prepare.tag(), a, b, c, d])
        .unwrap();
    decoder.push(&[0u8; 100]).unwrap();
    let largest = LARGEST.load(Ordering::SeqCst);
    assert!(largest < 4096, "largest allocation {largest} bytes");
    assert_eq!(decoder.buffered(), 100);
}
