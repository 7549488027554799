//! Stack painting: the free stack is filled with a pattern, and the
//! deepest word no longer holding it is the high-water mark. The only
//! module of the firmware that reads memory through raw pointers.
#![allow(unsafe_code)]

use core::ptr::addr_of;

const PAINT: u32 = 0xC0DE_57AC;

/// Bytes kept unpainted below the current stack pointer (the painting
/// function's own frame).
const MARGIN: usize = 64;

extern "C" {
    // Provided by cortex-m-rt's link.x.
    static _stack_end: u32;
    static _stack_start: u32;
    static __sdata: u32;
    static __ebss: u32;
}

fn stack_end() -> usize {
    addr_of!(_stack_end) as usize
}

/// The top of the stack (where it starts, growing down).
pub fn top() -> usize {
    addr_of!(_stack_start) as usize
}

/// The bytes of RAM taken by statics (`.data` and `.bss`).
pub fn statics() -> usize {
    addr_of!(__ebss) as usize - addr_of!(__sdata) as usize
}

/// How far below the stack pointer [`paint`] paints: deeper than any
/// call measured here goes (a deeper one would show as this much).
const WINDOW: usize = 48 * 1024;

/// Fills the stack below the caller's frame (at most [`WINDOW`] bytes,
/// never into the statics) with the pattern; returns the stack pointer it
/// painted below, for [`used_below`].
#[inline(never)]
pub fn paint() -> usize {
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = stack_end().max(sp.saturating_sub(WINDOW)) & !3;
    while p + MARGIN < sp {
        // SAFETY: [bottom, sp - MARGIN) is stack not in use: below the
        // current frame, above the statics, word aligned.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
    sp
}

/// The most stack used below `sp` since [`paint`] returned it: the
/// deepest word no longer holding the pattern, in bytes below `sp`.
pub fn used_below(sp: usize) -> usize {
    let mut p = stack_end().max(sp.saturating_sub(WINDOW)) & !3;
    while p < sp {
        // SAFETY: the range lies in RAM, between the statics and `sp`,
        // word aligned.
        if unsafe { (p as *const u32).read_volatile() } != PAINT {
            break;
        }
        p += 4;
    }
    sp - p
}
