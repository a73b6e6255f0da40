//! Storage for the embedded API server: a revision log with compare-and-swap writes and watch.
