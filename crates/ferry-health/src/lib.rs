//! Argo CD-compatible health assessment: built-in checks and Lua customizations.
