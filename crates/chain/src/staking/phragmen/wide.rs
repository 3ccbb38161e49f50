//! The 256-bit unsigned integer Phragmén's loads need: just the operations it uses, each
//! saturating instead of wrapping so an out-of-range input still elects deterministically.

use std::cmp::Ordering;

/// An unsigned 256-bit integer, as four 64-bit limbs, least significant first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct U256([u64; 4]);

impl U256 {
    pub(super) const ZERO: Self = Self([0; 4]);
    const MAX: Self = Self([u64::MAX; 4]);

    /// 2^`n`, for `n < 256`.
    pub(super) const fn pow2(n: u32) -> Self {
        let mut limbs = [0; 4];
        limbs[(n / 64) as usize] = 1 << (n % 64);
        Self(limbs)
    }

    /// Number of significant bits.
    pub(super) fn bits(&self) -> u32 {
        for i in (0..4).rev() {
            if self.0[i] != 0 {
                return 64 * i as u32 + 64 - self.0[i].leading_zeros();
            }
        }
        0
    }

    pub(super) fn saturating_add(self, other: Self) -> Self {
        let mut out = [0; 4];
        let mut carry = false;
        for (i, limb) in out.iter_mut().enumerate() {
            let (sum, c1) = self.0[i].overflowing_add(other.0[i]);
            let (sum, c2) = sum.overflowing_add(carry as u64);
            *limb = sum;
            carry = c1 || c2;
        }
        if carry { Self::MAX } else { Self(out) }
    }

    /// `self × m`.
    pub(super) fn saturating_mul(self, m: u128) -> Self {
        let m = [m as u64, (m >> 64) as u64];
        // Six limbs hold any 256 × 128-bit product.
        let mut out = [0u64; 6];
        for (j, &mj) in m.iter().enumerate() {
            let mut carry = 0u128;
            for i in 0..4 {
                let t = self.0[i] as u128 * mj as u128 + out[i + j] as u128 + carry;
                out[i + j] = t as u64;
                carry = t >> 64;
            }
            let mut k = j + 4;
            while carry != 0 && k < 6 {
                let t = out[k] as u128 + carry;
                out[k] = t as u64;
                carry = t >> 64;
                k += 1;
            }
        }
        if out[4] != 0 || out[5] != 0 {
            return Self::MAX;
        }
        Self([out[0], out[1], out[2], out[3]])
    }

    /// `⌊self / d⌋` for `d > 0`, by binary long division (the remainder always fits in 129
    /// bits: a `u128` plus the bit shifted out).
    pub(super) fn div(self, d: u128) -> Self {
        debug_assert!(d != 0);
        let mut quotient = [0u64; 4];
        let mut rem = 0u128;
        for bit in (0..self.bits()).rev() {
            let overflow = rem >> 127 == 1;
            rem = (rem << 1) | ((self.0[(bit / 64) as usize] >> (bit % 64)) & 1) as u128;
            if overflow || rem >= d {
                rem = rem.wrapping_sub(d);
                quotient[(bit / 64) as usize] |= 1 << (bit % 64);
            }
        }
        Self(quotient)
    }
}

impl From<u128> for U256 {
    fn from(v: u128) -> Self {
        Self([v as u64, (v >> 64) as u64, 0, 0])
    }
}

impl Ord for U256 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use num_bigint::BigUint;
    use proptest::prelude::*;

    use super::*;

    fn big(v: U256) -> BigUint {
        let mut bytes = Vec::new();
        for limb in v.0 {
            bytes.extend_from_slice(&limb.to_le_bytes());
        }
        BigUint::from_bytes_le(&bytes)
    }

    fn wide() -> impl Strategy<Value = U256> {
        (any::<[u64; 4]>(), 0u32..=256).prop_map(|(limbs, bits)| {
            // Spread the magnitudes: keep only the low `bits` bits.
            let mut v = U256(limbs);
            for (i, limb) in v.0.iter_mut().enumerate() {
                let low = bits.saturating_sub(64 * i as u32).min(64);
                *limb = if low == 64 {
                    *limb
                } else {
                    *limb & ((1u64 << low) - 1)
                };
            }
            v
        })
    }

    fn small() -> impl Strategy<Value = u128> {
        (any::<u128>(), 0u32..128).prop_map(|(v, shift)| (v >> shift).max(1))
    }

    proptest! {
        #[test]
        fn arithmetic_matches_big_integers(a in wide(), b in wide(), m in small()) {
            let limit = big(U256::MAX);
            prop_assert_eq!(big(a).bits() as u32, a.bits());
            prop_assert_eq!(a.cmp(&b), big(a).cmp(&big(b)));
            prop_assert_eq!(big(a.saturating_add(b)), (big(a) + big(b)).min(limit.clone()));
            prop_assert_eq!(big(a.saturating_mul(m)), (big(a) * BigUint::from(m)).min(limit));
            prop_assert_eq!(big(a.div(m)), big(a) / BigUint::from(m));
        }
    }

    #[test]
    fn edges() {
        assert_eq!(U256::pow2(192).bits(), 193);
        assert_eq!(U256::MAX.div(1), U256::MAX);
        assert_eq!(U256::MAX.div(u128::MAX), U256([1, 0, 1, 0]));
        assert_eq!(U256::MAX.saturating_add(U256::from(1)), U256::MAX);
        assert_eq!(U256::pow2(255).saturating_mul(2), U256::MAX);
        assert_eq!(U256::ZERO.bits(), 0);
    }
}
