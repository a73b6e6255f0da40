//! Kubernetes resource quantities: parsing and the canonical form `SetDefaults_ResourceList` leaves
//! after rounding up to milli precision (e.g. `0.5` → `500m`, `1000m` → `1`, `1.5Gi` → `1536Mi`).

/// Decimal SI suffixes by power-of-ten exponent.
const DECIMAL_SUFFIXES: [(i32, &str); 10] = [
    (-9, "n"),
    (-6, "u"),
    (-3, "m"),
    (0, ""),
    (3, "k"),
    (6, "M"),
    (9, "G"),
    (12, "T"),
    (15, "P"),
    (18, "E"),
];
/// Binary SI suffixes by power of 1024.
const BINARY_SUFFIXES: [(u32, &str); 7] = [
    (0, ""),
    (1, "Ki"),
    (2, "Mi"),
    (3, "Gi"),
    (4, "Ti"),
    (5, "Pi"),
    (6, "Ei"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// An exact value: `negative`, `mantissa · 10^exponent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    mantissa: u128,
    exponent: i32,
}

fn pow10(power: u32) -> Option<u128> {
    10u128.checked_pow(power)
}

fn parse(text: &str) -> Option<(Decimal, Format)> {
    let text = text.trim();
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let number_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{whole}{fraction}");
    let mut mantissa: u128 = digits.parse().ok()?;
    let mut exponent = -i32::try_from(fraction.len()).ok()?;
    let format = if let Some(&(power, _)) = BINARY_SUFFIXES
        .iter()
        .find(|(_, s)| !s.is_empty() && *s == suffix)
    {
        mantissa = mantissa.checked_mul(1024u128.checked_pow(power)?)?;
        Format::BinarySI
    } else if let Some(&(power, _)) = DECIMAL_SUFFIXES.iter().find(|(_, s)| *s == suffix) {
        exponent = exponent.checked_add(power)?;
        Format::DecimalSI
    } else if let Some(power) = suffix.strip_prefix(['e', 'E']) {
        exponent = exponent.checked_add(power.parse::<i32>().ok()?)?;
        Format::DecimalExponent
    } else {
        return None;
    };
    Some((
        Decimal {
            negative,
            mantissa,
            exponent,
        },
        format,
    ))
}

/// Rounds the magnitude up to milli precision.
fn round_up_to_milli(value: Decimal) -> Option<Decimal> {
    if value.exponent >= -3 {
        return Some(value);
    }
    let divisor = pow10(u32::try_from(-3 - value.exponent).ok()?)?;
    let mut mantissa = value.mantissa / divisor;
    if !value.mantissa.is_multiple_of(divisor) {
        mantissa = mantissa.checked_add(1)?;
    }
    Some(Decimal {
        mantissa,
        exponent: -3,
        ..value
    })
}

/// Integer value when the decimal has no fractional part.
fn as_integer(value: Decimal) -> Option<u128> {
    if value.exponent >= 0 {
        value
            .mantissa
            .checked_mul(pow10(u32::try_from(value.exponent).ok()?)?)
    } else {
        let divisor = pow10(u32::try_from(-value.exponent).ok()?)?;
        value
            .mantissa
            .is_multiple_of(divisor)
            .then_some(value.mantissa / divisor)
    }
}

fn format_decimal(value: Decimal, format: Format) -> Option<String> {
    let sign = if value.negative && value.mantissa != 0 {
        "-"
    } else {
        ""
    };
    if value.mantissa == 0 {
        return Some("0".to_string());
    }
    let (mut mantissa, mut exponent) = (value.mantissa, value.exponent);
    while mantissa.is_multiple_of(10) {
        mantissa /= 10;
        exponent += 1;
    }
    let remainder = exponent.rem_euclid(3);
    if remainder != 0 {
        mantissa = mantissa.checked_mul(pow10(u32::try_from(remainder).ok()?)?)?;
        exponent -= remainder;
    }
    if format == Format::DecimalExponent {
        return Some(if exponent == 0 {
            format!("{sign}{mantissa}")
        } else {
            format!("{sign}{mantissa}e{exponent}")
        });
    }
    match DECIMAL_SUFFIXES.iter().find(|(power, _)| *power == exponent) {
        Some((_, suffix)) => Some(format!("{sign}{mantissa}{suffix}")),
        None => Some(format!("{sign}{mantissa}e{exponent}")),
    }
}

/// The canonical text of a quantity after `SetDefaults_ResourceList` (None when it does not parse).
pub fn canonical(text: &str) -> Option<String> {
    let (value, format) = parse(text)?;
    let value = round_up_to_milli(value)?;
    if format == Format::BinarySI
        && let Some(integer) = as_integer(value)
        && integer >= 1024
    {
        let sign = if value.negative { "-" } else { "" };
        let (power, suffix) = BINARY_SUFFIXES
            .iter()
            .rev()
            .find(|(power, _)| {
                1024u128
                    .checked_pow(*power)
                    .is_some_and(|unit| integer.is_multiple_of(unit))
            })
            .copied()
            .unwrap_or((0, ""));
        let unit = 1024u128.checked_pow(power)?;
        return Some(format!("{sign}{}{suffix}", integer / unit));
    }
    let format = if format == Format::BinarySI {
        Format::DecimalSI
    } else {
        format
    };
    format_decimal(value, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_table() {
        let cases = [
            ("1", Some("1")),
            ("0", Some("0")),
            ("0.5", Some("500m")),
            ("500m", Some("500m")),
            ("1000m", Some("1")),
            ("1500m", Some("1500m")),
            ("0.1m", Some("1m")),
            ("1200", Some("1200")),
            ("12e3", Some("12e3")),
            ("1k", Some("1k")),
            ("2000k", Some("2M")),
            ("128Mi", Some("128Mi")),
            ("1024Mi", Some("1Gi")),
            ("1.5Gi", Some("1536Mi")),
            ("0.5Ki", Some("512")),
            ("1536", Some("1536")),
            ("100M", Some("100M")),
            ("-1", Some("-1")),
            ("abc", None),
            ("1Qi", None),
            ("1.2.3", None),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical(input).as_deref(), expected, "{input}");
        }
    }
}
