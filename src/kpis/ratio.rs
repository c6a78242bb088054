//! Exact fractions for the one KPI whose inputs are themselves ratios: `ltv` divides by the mean
//! of monthly churn rates such as 1/3 and 2/3, whose sum a 28-digit decimal cannot hold exactly,
//! and its half-cent ties must round as the exact value does.
use rust_decimal::Decimal;

/// `num / den`, kept reduced with `den > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratio {
    num: i128,
    den: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

impl Ratio {
    /// `None` when `den = 0`.
    pub fn new(num: i128, den: i128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den).max(1);
        let sign = if den < 0 { -1 } else { 1 };
        Some(Ratio { num: sign * num / g, den: sign * den / g })
    }

    /// A decimal amount, exactly.
    pub fn from_decimal(d: Decimal) -> Option<Ratio> {
        Ratio::new(d.mantissa(), 10_i128.checked_pow(d.scale())?)
    }

    pub fn is_zero(self) -> bool {
        self.num == 0
    }

    pub fn add(self, other: Ratio) -> Option<Ratio> {
        let g = gcd(self.den, other.den).max(1);
        let num = self.num.checked_mul(other.den / g)?.checked_add(other.num.checked_mul(self.den / g)?)?;
        Ratio::new(num, self.den.checked_mul(other.den / g)?)
    }

    pub fn mul(self, other: Ratio) -> Option<Ratio> {
        // Cross-reduce first to keep the products small.
        let (g1, g2) = (gcd(self.num, other.den).max(1), gcd(other.num, self.den).max(1));
        Ratio::new((self.num / g1).checked_mul(other.num / g2)?, (self.den / g2).checked_mul(other.den / g1)?)
    }

    pub fn div(self, other: Ratio) -> Option<Ratio> {
        self.mul(Ratio::new(other.den, other.num)?)
    }

    pub fn to_f64(self) -> Option<f64> {
        Some(self.num as f64 / self.den as f64)
    }

    /// Rounded half-to-even to 2 decimal places.
    pub fn cents(self) -> Option<Decimal> {
        let scaled = self.num.checked_mul(100)?;
        let (quotient, remainder) = (scaled.div_euclid(self.den), scaled.rem_euclid(self.den));
        let twice = remainder.checked_mul(2)?;
        let rounded =
            if twice > self.den || (twice == self.den && quotient % 2 != 0) { quotient + 1 } else { quotient };
        Some(Decimal::from_i128_with_scale(rounded, 2))
    }
}
