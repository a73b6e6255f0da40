//! Helm chart rendering: Go text/template, Sprig and Helm semantics, in-process.
