//! Go's `fmt` formatting of template values, as Helm prints them.
//!
//! gotmpl prints floats with Rust's `Display` (`1000000`), while Go's `%v` of a
//! float64 is `strconv.FormatFloat(f, 'g', -1, 64)` (`1e+06`). Every value
//! that reaches the output goes through [`format_v`] instead.

use gotmpl::Value;
use std::fmt::Write;

/// Go's `%v` of a float64, i.e. `strconv.FormatFloat(f, 'g', -1, 64)`:
/// the shortest round-trip digits, in exponent form when the decimal exponent
/// is < -4 or >= 6 (Go fixes the `%g` precision at 6 for that decision when
/// printing the shortest form), e.g. `1e+06`, `1.2345675e+06`, `123456.7`.
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let (negative, digits, exp) = shortest_digits(f);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        write_exponent_form(&mut out, &digits, exp);
    } else {
        write_decimal_form(&mut out, &digits, exp);
    }
    out
}

/// Shortest round-trip decimal digits of a finite non-zero float and its
/// decimal exponent (the position of the first digit: 1234.5 → ("12345", 3)).
fn shortest_digits(f: f64) -> (bool, String, i32) {
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp = exponent.parse::<i32>().unwrap_or(0);
    (f.is_sign_negative(), digits, exp)
}

fn write_exponent_form(out: &mut String, digits: &str, exp: i32) {
    let mut chars = digits.chars();
    if let Some(first) = chars.next() {
        out.push(first);
    }
    let rest: String = chars.collect();
    if !rest.is_empty() {
        out.push('.');
        out.push_str(&rest);
    }
    let sign = if exp < 0 { '-' } else { '+' };
    let _ = write!(out, "e{sign}{:02}", exp.abs());
}

fn write_decimal_form(out: &mut String, digits: &str, exp: i32) {
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let int_len = (exp + 1) as usize;
    if digits.len() <= int_len {
        out.push_str(digits);
        for _ in digits.len()..int_len {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..int_len]);
        out.push('.');
        out.push_str(&digits[int_len..]);
    }
}

/// Go `%v` of a template value (`map[a:1 b:2]`, `[a b]`, `<nil>`).
pub fn format_v(value: &Value) -> String {
    let mut out = String::new();
    write_v(&mut out, value);
    out
}

fn write_v(out: &mut String, value: &Value) {
    match value {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Uint(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) => out.push_str(&format_float_g(*f)),
        Value::String(s) => out.push_str(s),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, item);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push_str("map[");
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, v);
            }
            out.push(']');
        }
        Value::Function(_) => out.push_str("<func>"),
    }
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            let prev_is_string = matches!(args.get(i - 1), Some(Value::String(_)));
            if !prev_is_string && !matches!(arg, Value::String(_)) {
                out.push(' ');
            }
        }
        write_v(&mut out, arg);
    }
    out
}

/// Go's `fmt.Sprintln`: always a space between operands, and a newline.
pub fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(format_v).collect();
    let mut out = parts.join(" ");
    out.push('\n');
    out
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest digits, never an
/// exponent. Rust's `Display` for f64 is exactly that.
pub fn format_float_f(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[test]
    fn floats_format_like_go_percent_v() {
        let table: &[(f64, &str)] = &[
            (1000000.0, "1e+06"),
            (12345678.0, "1.2345678e+07"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1.5, "1.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (3.0, "3"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (1234567.5, "1.2345675e+06"),
            (0.1, "0.1"),
        ];
        for (input, want) in table {
            assert_eq!(format_float_g(*input), *want, "formatting {input}");
        }
    }

    #[test]
    fn maps_and_lists_format_like_go() {
        let mut map = BTreeMap::new();
        map.insert(Arc::from("b"), Value::Float(2.0));
        map.insert(Arc::from("a"), Value::Float(1e6));
        let value = Value::Map(Arc::new(map));
        assert_eq!(format_v(&value), "map[a:1e+06 b:2]");
        let list = Value::List(Arc::from(vec![
            Value::String(Arc::from("x")),
            Value::Nil,
            Value::Bool(true),
        ]));
        assert_eq!(format_v(&list), "[x <nil> true]");
    }

    #[test]
    fn sprint_spaces_only_between_non_strings() {
        let args = [
            Value::Int(1),
            Value::Int(2),
            Value::String(Arc::from("a")),
            Value::Int(3),
        ];
        assert_eq!(sprint(&args), "1 2a3");
    }
}
