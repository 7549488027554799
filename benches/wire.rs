//! Benchmark placeholder until the benchmarked code exists.
fn main() {}
