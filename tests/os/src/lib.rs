//! Test-only crate: the suites are in tests/ (store faults, file modes).
