//! Health status codes and the status carried by one resource.

use serde::{Deserialize, Serialize};

/// Argo CD's health status codes, spelled exactly as Argo CD spells them.
///
/// The declaration order is *not* the severity order; use [`HealthStatusCode::severity`]
/// or [`HealthStatusCode::is_worse_than`] to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HealthStatusCode {
    Healthy,
    Progressing,
    Degraded,
    Suspended,
    Missing,
    Unknown,
}

impl HealthStatusCode {
    /// Every code, in Argo CD's aggregation order from best to worst.
    pub const BY_SEVERITY: [HealthStatusCode; 6] = [
        HealthStatusCode::Healthy,
        HealthStatusCode::Suspended,
        HealthStatusCode::Progressing,
        HealthStatusCode::Missing,
        HealthStatusCode::Degraded,
        HealthStatusCode::Unknown,
    ];

    /// The wire string (`"Healthy"`, `"Progressing"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatusCode::Healthy => "Healthy",
            HealthStatusCode::Progressing => "Progressing",
            HealthStatusCode::Degraded => "Degraded",
            HealthStatusCode::Suspended => "Suspended",
            HealthStatusCode::Missing => "Missing",
            HealthStatusCode::Unknown => "Unknown",
        }
    }

    /// Parses a status string exactly (case-sensitive), as Argo CD's `isValidHealthStatusCode` does.
    pub fn parse(text: &str) -> Option<HealthStatusCode> {
        Self::BY_SEVERITY.into_iter().find(|code| code.as_str() == text)
    }

    /// Position in gitops-engine's `healthOrder`: Healthy 0 … Unknown 5.
    pub fn severity(self) -> u8 {
        match self {
            HealthStatusCode::Healthy => 0,
            HealthStatusCode::Suspended => 1,
            HealthStatusCode::Progressing => 2,
            HealthStatusCode::Missing => 3,
            HealthStatusCode::Degraded => 4,
            HealthStatusCode::Unknown => 5,
        }
    }

    /// True when `self` is strictly worse than `other` (gitops-engine `IsWorse(other, self)`).
    pub fn is_worse_than(self, other: HealthStatusCode) -> bool {
        self.severity() > other.severity()
    }
}

impl std::fmt::Display for HealthStatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health of one resource: a status code and a human-readable message (often empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStatus {
    pub status: HealthStatusCode,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl HealthStatus {
    pub fn new(status: HealthStatusCode, message: impl Into<String>) -> Self {
        HealthStatus {
            status,
            message: message.into(),
        }
    }

    pub fn healthy(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Healthy, message)
    }
    pub fn progressing(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Progressing, message)
    }
    pub fn degraded(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Degraded, message)
    }
    pub fn suspended(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Suspended, message)
    }
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Unknown, message)
    }
    pub fn missing(message: impl Into<String>) -> Self {
        Self::new(HealthStatusCode::Missing, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_every_code_and_rejects_other_spellings() {
        for code in HealthStatusCode::BY_SEVERITY {
            assert_eq!(HealthStatusCode::parse(code.as_str()), Some(code));
        }
        for bad in ["healthy", "HEALTHY", "", "Ok", "Healthy "] {
            assert_eq!(HealthStatusCode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn severity_follows_gitops_engine_order() {
        let order = HealthStatusCode::BY_SEVERITY;
        for pair in order.windows(2) {
            assert!(pair[1].is_worse_than(pair[0]), "{:?} > {:?}", pair[1], pair[0]);
            assert!(!pair[0].is_worse_than(pair[1]));
        }
        assert!(!HealthStatusCode::Degraded.is_worse_than(HealthStatusCode::Degraded));
    }

    #[test]
    fn serializes_with_argo_strings_and_omits_empty_message() {
        let json = serde_json::to_string(&HealthStatus::healthy("")).unwrap();
        assert_eq!(json, r#"{"status":"Healthy"}"#);
        let json = serde_json::to_string(&HealthStatus::degraded("boom")).unwrap();
        assert_eq!(json, r#"{"status":"Degraded","message":"boom"}"#);
    }
}
