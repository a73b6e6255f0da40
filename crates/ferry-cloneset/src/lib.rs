//! OpenKruise CloneSet planning (pure) and reconciler.
