//! Numbers as gopher-lua (Argo CD's Lua) prints them.
//!
//! gopher-lua's numbers are float64. `tostring`, `print`, `..` and `string.format("%s")` all go
//! through `LNumber.String()`: a value that survives the round trip through int64
//! (`float64(int64(v)) == v`) prints as that integer — `1e15` is `1000000000000000`, `2^53` is
//! `9007199254740992`, `-0` is `0`; anything else prints as Go's `fmt.Sprint(float64)`: the
//! shortest representation that reads back exactly, in exponent form when the decimal exponent is
//! below -4 or at least 6 (`1.2345675e+06`, `1e-05`, `1e+21`), `NaN`, `+Inf`, `-Inf`. On amd64,
//! where Argo CD runs, `int64(v)` of a value outside the int64 range is the minimum int64, so
//! 2^63 and above print in float form (`9.223372036854776e+18`) while -2^63 prints as digits.
//! `string.format("%d")` truncates to int64 in both dialects already.

/// 2^63 as a double: the first value above the int64 range.
pub(crate) const TWO_POW_63: f64 = -(i64::MIN as f64);

/// `LNumber.String()`.
pub(crate) fn go_number_string(number: f64) -> String {
    if number.fract() == 0.0 && (-TWO_POW_63..TWO_POW_63).contains(&number) {
        // Exact: an integral double in the int64 range converts without loss.
        return (number as i64).to_string();
    }
    go_float_string(number)
}

/// Go's `fmt.Sprint(float64)` (`%v`, i.e. `strconv.FormatFloat(v, 'g', -1, 64)`).
fn go_float_string(number: f64) -> String {
    if number.is_nan() {
        return "NaN".to_owned();
    }
    if number.is_infinite() {
        return if number > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.2345675e6" or "-1e-5".
    let scientific = format!("{number:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        // Plain decimal notation with the same shortest digits.
        return format!("{number}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_like_gopher_lua() {
        let cases: [(f64, &str); 24] = [
            (0.0, "0"),
            (-0.0, "0"),
            (3.0, "3"),
            (-42.0, "-42"),
            (1e14, "100000000000000"),
            (1e15, "1000000000000000"),
            (123_456_789_012_345.0, "123456789012345"),
            (9_007_199_254_740_992.0, "9007199254740992"),
            (1e18, "1000000000000000000"),
            (-TWO_POW_63, "-9223372036854775808"),
            (TWO_POW_63, "9.223372036854776e+18"),
            (1e21, "1e+21"),
            (-1e21, "-1e+21"),
            (1e300, "1e+300"),
            (0.5, "0.5"),
            (-1.5, "-1.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123_456.5, "123456.5"),
            (1_234_567.5, "1.2345675e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (number, expected) in cases {
            assert_eq!(go_number_string(number), expected, "{number:?}");
        }
    }
}
