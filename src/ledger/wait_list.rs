//! How a sorted list of waits is stored in `wait_book_months.waits`: compactly and losslessly, so
//! that a period's median reads a few bytes per value rather than eight.
//!
//! ```text
//! list := varint(step) zigzag-varint(first / step) varint((v[1] - v[0]) / step) ...
//! ```
//!
//! `step` is the greatest common divisor of the first value and the gaps between consecutive
//! values (1 when they are all 0), so every stored number is exact. Waits are whole microseconds
//! (or days) between timestamps that are mostly whole seconds or minutes, and a book's month holds
//! hundreds of them: the gaps divided by the step take one or two bytes each. The empty list is
//! stored as no bytes.
use sea_orm::DbErr;

/// Encodes `values`, which must be sorted ascending.
pub fn encode_waits(values: &[i64]) -> Vec<u8> {
    let Some(&first) = values.first() else { return Vec::new() };
    let gaps = values.windows(2).map(|pair| gap(pair[0], pair[1]));
    let step = gaps.clone().fold(first.unsigned_abs(), gcd).max(1);
    let mut bytes = Vec::with_capacity(values.len() + 16);
    push_varint(&mut bytes, step);
    // `first / step` is exact and fits: `step` divides `first`.
    push_varint(&mut bytes, zigzag(first / step as i64));
    for gap in gaps {
        push_varint(&mut bytes, gap / step);
    }
    bytes
}

/// Appends the values of a stored list to `out`, in order.
pub fn decode_waits_into(bytes: &[u8], out: &mut Vec<i64>) -> Result<(), DbErr> {
    let mut reader = Varints { bytes };
    let Some(step) = reader.next().transpose()? else { return Ok(()) };
    let first = reader.next().transpose()?.ok_or_else(|| malformed("no first value"))?;
    let mut value = unzigzag(first).wrapping_mul(step as i64);
    out.push(value);
    for gap in reader {
        // The true sum fits in an i64 (it is a stored value); wrapping arithmetic reaches it
        // even when the gap alone does not.
        value = value.wrapping_add(gap?.wrapping_mul(step) as i64);
        out.push(value);
    }
    Ok(())
}

/// `later - earlier` of two sorted values, exact as an unsigned number.
fn gap(earlier: i64, later: i64) -> u64 {
    later.wrapping_sub(earlier) as u64
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    (value >> 1) as i64 ^ -((value & 1) as i64)
}

/// LEB128: seven bits a byte, low first, the high bit set on every byte but the last.
fn push_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push((value as u8) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

struct Varints<'a> {
    bytes: &'a [u8],
}

impl Iterator for Varints<'_> {
    type Item = Result<u64, DbErr>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.bytes.is_empty() {
            return None;
        }
        let mut value = 0_u64;
        for (i, byte) in self.bytes.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                return Some(Ok(value));
            }
        }
        self.bytes = &[];
        Some(Err(malformed("a number runs past its tenth byte or the list's end")))
    }
}

fn malformed(what: &str) -> DbErr {
    DbErr::Custom(format!("a stored list of waits is malformed: {what}"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip(values: &[i64]) -> Vec<i64> {
        let mut out = Vec::new();
        decode_waits_into(&encode_waits(values), &mut out).map_err(|e| e.to_string()).unwrap_or_else(|e| panic!("{e}"));
        out
    }

    #[test]
    fn whole_minutes_in_microseconds_take_a_byte_or_two_each() {
        let minute = 60_000_000;
        let values: Vec<i64> = (0..300).map(|i| (i * 7 + 30) * minute).collect();
        let bytes = encode_waits(&values);
        assert!(bytes.len() <= 2 * values.len(), "{} bytes for {} values", bytes.len(), values.len());
        assert_eq!(round_trip(&values), values);
    }

    #[test]
    fn edge_lists_survive() {
        for values in [
            vec![],
            vec![0],
            vec![0, 0, 0],
            vec![-5, -5, 3],
            vec![i64::MIN, 0, i64::MAX],
            vec![i64::MIN, i64::MIN + 1],
            vec![i64::MAX - 1, i64::MAX],
            vec![1],
            vec![-1, 1],
        ] {
            assert_eq!(round_trip(&values), values);
        }
    }

    #[test]
    fn a_truncated_list_is_an_error() {
        let mut bytes = encode_waits(&[1_000, 1_000_000_000_000]);
        bytes.pop();
        assert!(decode_waits_into(&bytes, &mut Vec::new()).is_err());
    }

    proptest! {
        #[test]
        fn any_sorted_list_round_trips(mut values in proptest::collection::vec(any::<i64>(), 0..40), scale in 1_i64..1_000_000) {
            for value in &mut values {
                *value = value.checked_mul(scale).unwrap_or(*value);
            }
            values.sort_unstable();
            prop_assert_eq!(round_trip(&values), values);
        }
    }
}
