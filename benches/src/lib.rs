//! Helpers shared by callcore's benchmarks (criterion benches live under `benches/benches`).
