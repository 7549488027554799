//! A small logging shim: `net_trace!`, `net_debug!`, `net_info!`, `net_warn!`
//! and `net_error!` go to `defmt` when the `defmt` feature is on, otherwise to
//! the `log` facade when `log` is on, otherwise nowhere (the arguments are
//! still type-checked and evaluated by reference only).
//!
//! Arguments must implement both `core::fmt::Display` and `defmt::Format`
//! when those features are used; the format string uses `{}` placeholders.

#[cfg(feature = "defmt")]
#[allow(unused_macros)]
macro_rules! net_log {
    (trace, $($arg:expr),* $(,)?) => { defmt::trace!($($arg),*) };
    (debug, $($arg:expr),* $(,)?) => { defmt::debug!($($arg),*) };
    (info, $($arg:expr),* $(,)?) => { defmt::info!($($arg),*) };
    (warn, $($arg:expr),* $(,)?) => { defmt::warn!($($arg),*) };
    (error, $($arg:expr),* $(,)?) => { defmt::error!($($arg),*) };
}

#[cfg(all(feature = "log", not(feature = "defmt")))]
#[allow(unused_macros)]
macro_rules! net_log {
    ($level:ident, $($arg:expr),* $(,)?) => { log::$level!(target: "rserpool", $($arg),*) };
}

#[cfg(not(any(feature = "log", feature = "defmt")))]
#[allow(unused_macros)]
macro_rules! net_log {
    ($level:ident, $($arg:expr),* $(,)?) => {{ $( let _ = &$arg; )* }};
}

/// Logs at trace level.
#[allow(unused_macros)]
macro_rules! net_trace {
    ($($arg:expr),* $(,)?) => { net_log!(trace, $($arg),*) };
}

/// Logs at debug level.
#[allow(unused_macros)]
macro_rules! net_debug {
    ($($arg:expr),* $(,)?) => { net_log!(debug, $($arg),*) };
}

/// Logs at info level.
#[allow(unused_macros)]
macro_rules! net_info {
    ($($arg:expr),* $(,)?) => { net_log!(info, $($arg),*) };
}

/// Logs at warn level.
#[allow(unused_macros)]
macro_rules! net_warn {
    ($($arg:expr),* $(,)?) => { net_log!(warn, $($arg),*) };
}

/// Logs at error level.
#[allow(unused_macros)]
macro_rules! net_error {
    ($($arg:expr),* $(,)?) => { net_log!(error, $($arg),*) };
}
