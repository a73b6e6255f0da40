//! Int-or-percent arithmetic with Kubernetes' and Kruise's rounding rules.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// An int-or-string value that is neither an integer nor a percentage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for an int-or-percent field: {reason}")]
pub struct IntOrPercentError {
    /// The offending string.
    pub value: String,
    /// Why it was rejected.
    pub reason: &'static str,
}

/// Scales `value` against `total`: an integer is returned as is; `"N%"` becomes N·total/100 rounded up
/// (`round_up`) or down. A plain integer inside a string (`"3"`) is accepted only when `allow_int_string`
/// (Kruise's partition helper accepts it; Kubernetes' `GetValueFromIntOrPercent` does not).
pub fn scaled_value(
    value: &IntOrString,
    total: i32,
    round_up: bool,
    allow_int_string: bool,
) -> Result<i32, IntOrPercentError> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(text) => {
            if let Some(number) = text.strip_suffix('%') {
                let percent: i64 = number.parse().map_err(|_| IntOrPercentError {
                    value: text.clone(),
                    reason: "the percentage is not an integer",
                })?;
                let product = percent * i64::from(total);
                let scaled = if round_up {
                    ceil_div(product, 100)
                } else {
                    product.div_euclid(100)
                };
                Ok(clamp_to_i32(scaled))
            } else if allow_int_string {
                text.parse::<i32>().map_err(|_| IntOrPercentError {
                    value: text.clone(),
                    reason: "a string value must be a percentage such as \"20%\"",
                })
            } else {
                Err(IntOrPercentError {
                    value: text.clone(),
                    reason: "a string value must be a percentage such as \"20%\"",
                })
            }
        }
    }
}

fn ceil_div(numerator: i64, denominator: i64) -> i64 {
    -((-numerator).div_euclid(denominator))
}

fn clamp_to_i32(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX })
}

/// Kruise's `CalculatePartitionReplicas`: the number of pods kept at old revisions.
///
/// A percent rounds up, but since Kruise v1.2 a percent other than `"100%"` that would keep every pod
/// (with more than one replica) keeps one fewer, so at least one pod updates. The result is clamped to
/// `[0, replicas]`. No partition means 0.
pub fn partition_replicas(partition: Option<&IntOrString>, replicas: i32) -> Result<i32, IntOrPercentError> {
    let Some(partition) = partition else {
        return Ok(0);
    };
    let mut value = scaled_value(partition, replicas, true, true)?;
    if let IntOrString::String(text) = partition
        && replicas > 1
        && value == replicas
        && text != "100%"
    {
        value = replicas - 1;
    }
    Ok(value.clamp(0, replicas.max(0)))
}

/// Update `maxSurge`: rounds up; forced to 0 while the CloneSet is paused; absent means 0.
pub fn max_surge(max_surge: Option<&IntOrString>, replicas: i32, paused: bool) -> i32 {
    match max_surge {
        Some(value) if !paused => scaled_value(value, replicas, true, false).unwrap_or(0),
        _ => 0,
    }
}

/// Update `maxUnavailable` (default `"20%"`): rounds up when `maxSurge` is 0, down otherwise.
pub fn max_unavailable(max_unavailable: Option<&IntOrString>, replicas: i32, max_surge: i32) -> i32 {
    let default = IntOrString::String("20%".to_string());
    scaled_value(
        max_unavailable.unwrap_or(&default),
        replicas,
        max_surge == 0,
        false,
    )
    .unwrap_or(0)
}

/// `scaleStrategy.maxUnavailable` (absent = unlimited): a percent rounds up.
pub fn scale_max_unavailable(max_unavailable: Option<&IntOrString>, replicas: i32) -> i32 {
    match max_unavailable {
        Some(value) => scaled_value(value, replicas, true, false).unwrap_or(i32::MAX),
        None => i32::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> IntOrString {
        IntOrString::String(text.to_string())
    }

    #[test]
    fn partition_follows_upstream_rounding() {
        // (partition, replicas, expected partition) — the examples of the reference §2.5 and PR #954.
        let cases: Vec<(Option<IntOrString>, i32, i32)> = vec![
            (None, 5, 0),
            (Some(IntOrString::Int(1)), 2, 1),
            (Some(IntOrString::Int(7)), 5, 5),
            (Some(IntOrString::Int(-2)), 5, 0),
            (Some(s("90%")), 8, 7),
            (Some(s("99%")), 5, 4),
            (Some(s("25%")), 10, 3),
            (Some(s("50%")), 1, 1),
            (Some(s("100%")), 3, 3),
            (Some(s("99%")), 3, 2),
            (Some(s("0%")), 4, 0),
            (Some(s("1%")), 10, 1),
            (Some(s("3")), 10, 3),
        ];
        for (partition, replicas, expected) in cases {
            assert_eq!(
                partition_replicas(partition.as_ref(), replicas),
                Ok(expected),
                "partition {partition:?} replicas {replicas}"
            );
        }
    }

    #[test]
    fn invalid_partition_is_an_error() {
        assert!(partition_replicas(Some(&s("abc")), 3).is_err());
        assert!(partition_replicas(Some(&s("x%")), 3).is_err());
    }

    #[test]
    fn max_unavailable_rounds_up_only_without_surge() {
        // (maxUnavailable, replicas, maxSurge, expected)
        let cases: Vec<(Option<IntOrString>, i32, i32, i32)> = vec![
            (None, 10, 0, 2),
            (None, 3, 0, 1),
            (None, 3, 1, 0),
            (None, 1000, 0, 200),
            (Some(s("50%")), 5, 0, 3),
            (Some(s("50%")), 5, 2, 2),
            (Some(IntOrString::Int(4)), 5, 1, 4),
        ];
        for (value, replicas, surge, expected) in cases {
            assert_eq!(
                max_unavailable(value.as_ref(), replicas, surge),
                expected,
                "{value:?} {replicas} {surge}"
            );
        }
    }

    #[test]
    fn max_surge_rounds_up_and_is_zero_when_paused() {
        assert_eq!(max_surge(Some(&s("10%")), 5, false), 1);
        assert_eq!(max_surge(Some(&s("50%")), 5, false), 3);
        assert_eq!(max_surge(Some(&IntOrString::Int(2)), 5, true), 0);
        assert_eq!(max_surge(None, 5, false), 0);
    }

    #[test]
    fn scale_max_unavailable_defaults_to_unlimited() {
        assert_eq!(scale_max_unavailable(None, 5), i32::MAX);
        assert_eq!(scale_max_unavailable(Some(&s("10%")), 5), 1);
        assert_eq!(scale_max_unavailable(Some(&IntOrString::Int(2)), 5), 2);
    }

    #[test]
    fn plain_strings_are_rejected_where_kubernetes_rejects_them() {
        assert!(scaled_value(&s("3"), 10, true, false).is_err());
        assert_eq!(scaled_value(&s("3"), 10, true, true), Ok(3));
    }
}
