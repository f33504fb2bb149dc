//! Ed25519 batch verification of many signatures made by one key: verify-log's hot path.
//!
//! ed25519-dalek's `verify_batch` takes one key point per signature even when every key
//! is the same, so its multiscalar multiplication has 2n + 1 points. A log is signed by
//! one key (or a short chain of them), so here the key's terms are summed into one and the
//! equation has n + 2 points. docs/audit.md ("Batch verification") says why it is sound
//! and how it differs from `verify_strict`, which names the culprit when a batch fails.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use rand_core::RngCore;
use sha2::{Digest, Sha512};
use std::sync::OnceLock;

/// One signer's key, prepared once for any number of batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchKey {
    key: VerifyingKey,
    point: EdwardsPoint,
    /// The batch equation is only used for a key in the prime-order subgroup (every key
    /// ed25519 key generation makes); any other key is checked one signature at a time.
    batchable: bool,
}

impl BatchKey {
    pub fn new(key: VerifyingKey) -> BatchKey {
        let point = key.to_edwards();
        BatchKey {
            key,
            point,
            batchable: !key.is_weak() && point.is_torsion_free(),
        }
    }

    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// True only if every `sigs[i]` is a valid signature of `msgs[i]` by this key (up to
    /// the 2^-128 chance the random coefficients hide a bad one). False means at least one
    /// may not be: the caller then checks them one by one with `verify_strict`.
    ///
    /// Checks `[8]([-Σ z_i s_i]B + Σ [z_i]R_i + [Σ z_i k_i]A) = 0` with independent random
    /// 128-bit `z_i` and `k_i = SHA-512(R_i || A || M_i) mod l`, and refuses, as
    /// `verify_strict` does, a non-canonical `s`, an `R` that is non-canonical, does not
    /// decompress or has small order, and a key of small order.
    pub fn verify(&self, msgs: &[&[u8]], sigs: &[Signature]) -> bool {
        if msgs.len() != sigs.len() || !self.batchable {
            return false;
        }
        let mut random = vec![0u8; 16 * sigs.len()];
        if rand_core::OsRng.try_fill_bytes(&mut random).is_err() {
            return false;
        }
        let mut scalars = Vec::with_capacity(sigs.len() + 2);
        let mut points = Vec::with_capacity(sigs.len() + 2);
        let (mut b_coefficient, mut a_coefficient) = (Scalar::ZERO, Scalar::ZERO);
        for ((sig, msg), fresh) in sigs.iter().zip(msgs).zip(random.chunks_exact(16)) {
            let r_bytes = sig.r_bytes();
            if !acceptable_r(r_bytes) {
                return false;
            }
            let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*sig.s_bytes()))
            else {
                return false;
            };
            let Some(r) = CompressedEdwardsY(*r_bytes).decompress() else {
                return false;
            };
            let k = Scalar::from_hash(
                Sha512::new()
                    .chain_update(r_bytes)
                    .chain_update(self.key.as_bytes())
                    .chain_update(msg),
            );
            let z = Scalar::from_bytes_mod_order(widen(fresh));
            b_coefficient += z * s;
            a_coefficient += z * k;
            scalars.push(z);
            points.push(r);
        }
        scalars.push(-b_coefficient);
        points.push(ED25519_BASEPOINT_POINT);
        scalars.push(a_coefficient);
        points.push(self.point);
        EdwardsPoint::vartime_multiscalar_mul(scalars, points)
            .mul_by_cofactor()
            .is_identity()
    }
}

/// 16 random bytes as the low half of a 32-byte little-endian scalar.
fn widen(fresh: &[u8]) -> [u8; 32] {
    let mut z = [0u8; 32];
    for (to, from) in z.iter_mut().zip(fresh) {
        *to = *from;
    }
    z
}

/// Whether `r` may be a signature's R, judged on its bytes (no point arithmetic): its y
/// coordinate canonical (below p = 2^255 - 19, as the R that `verify_strict` recomputes
/// and compares always is), and not the y of a point of small order. A point and its
/// negation share y and are of small order together, so y alone decides.
pub fn acceptable_r(r: &[u8; 32]) -> bool {
    let y = masked_y(r);
    canonical_y(&y) && !small_order_ys().contains(&y)
}

fn masked_y(r: &[u8; 32]) -> [u8; 32] {
    let mut y = *r;
    if let Some(top) = y.last_mut() {
        *top &= 0x7f;
    }
    y
}

/// y < p, for y < 2^255 given little-endian: y >= p exactly when bytes 1..=30 are 0xff,
/// byte 31 is 0x7f and byte 0 is at least 0xed (p's low byte).
fn canonical_y(y: &[u8; 32]) -> bool {
    let (Some(&low), Some(middle), Some(&top)) = (y.first(), y.get(1..31), y.last()) else {
        return false;
    };
    !(top == 0x7f && middle.iter().all(|&b| b == 0xff) && low >= 0xed)
}

/// The y coordinates (canonical, sign bit cleared) of the eight points of small order.
fn small_order_ys() -> &'static [[u8; 32]] {
    static YS: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
    YS.get_or_init(|| {
        EIGHT_TORSION
            .iter()
            .map(|t| masked_y(&t.compress().to_bytes()))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::traits::Identity;
    use ed25519_dalek::{Signer, SigningKey};

    /// p + k for k < 19: the non-canonical encoding of y = k, little-endian.
    fn p_plus(k: u8) -> [u8; 32] {
        let mut b = [0xffu8; 32];
        b[0] = 0xed + k;
        b[31] = 0x7f;
        b
    }

    fn signed(n: usize) -> (SigningKey, Vec<Vec<u8>>, Vec<Signature>) {
        let sk = SigningKey::generate(&mut rand_core::OsRng);
        let msgs: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("sha256:{i:064x}").into_bytes())
            .collect();
        let sigs = msgs.iter().map(|m| sk.sign(m)).collect();
        (sk, msgs, sigs)
    }

    fn refs(msgs: &[Vec<u8>]) -> Vec<&[u8]> {
        msgs.iter().map(|m| m.as_slice()).collect()
    }

    /// What the batch must say: true exactly when `verify_strict` accepts every one.
    fn strict_all(key: &VerifyingKey, msgs: &[&[u8]], sigs: &[Signature]) -> bool {
        msgs.len() == sigs.len()
            && msgs
                .iter()
                .zip(sigs)
                .all(|(m, s)| key.verify_strict(m, s).is_ok())
    }

    /// A signature made with the secret scalar directly: s = r + k·a for a chosen R.
    fn sign_with_r(sk: &SigningKey, r: Scalar, big_r: EdwardsPoint, msg: &[u8]) -> Signature {
        let vk = sk.verifying_key();
        let rb = big_r.compress().to_bytes();
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(rb)
                .chain_update(vk.as_bytes())
                .chain_update(msg),
        );
        let s = r + k * sk.to_scalar();
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&rb);
        bytes[32..].copy_from_slice(s.as_bytes());
        Signature::from_bytes(&bytes)
    }

    #[test]
    fn valid_batches_pass_of_any_size() {
        for n in [0usize, 1, 2, 7, 300] {
            let (sk, msgs, sigs) = signed(n);
            let key = BatchKey::new(sk.verifying_key());
            assert!(key.verify(&refs(&msgs), &sigs), "n = {n}");
        }
    }

    #[test]
    fn every_single_bit_flip_of_a_signature_or_message_fails_as_strict_does() {
        let (sk, msgs, sigs) = signed(12);
        let vk = sk.verifying_key();
        let key = BatchKey::new(vk);
        let good = refs(&msgs);
        for bit in 0..512 {
            let mut bad = sigs.clone();
            let mut b = bad[5].to_bytes();
            b[bit / 8] ^= 1 << (bit % 8);
            bad[5] = Signature::from_bytes(&b);
            assert!(!strict_all(&vk, &good, &bad), "bit {bit}");
            assert!(!key.verify(&good, &bad), "signature bit {bit} accepted");
        }
        for bit in 0..msgs[3].len() * 8 {
            let mut m = msgs.clone();
            m[3][bit / 8] ^= 1 << (bit % 8);
            let m = refs(&m);
            assert!(!strict_all(&vk, &m, &sigs));
            assert!(!key.verify(&m, &sigs), "message bit {bit} accepted");
        }
    }

    #[test]
    fn random_corruptions_never_pass_where_strict_fails() {
        use rand_core::RngCore;
        let (sk, msgs, sigs) = signed(24);
        let vk = sk.verifying_key();
        let key = BatchKey::new(vk);
        let good = refs(&msgs);
        let mut rng = rand_core::OsRng;
        for round in 0..300 {
            let mut bad = sigs.clone();
            // One to three signatures, each with one to four random bytes replaced.
            for _ in 0..1 + rng.next_u32() % 3 {
                let i = rng.next_u32() as usize % bad.len();
                let mut b = bad[i].to_bytes();
                for _ in 0..1 + rng.next_u32() % 4 {
                    b[rng.next_u32() as usize % 64] = rng.next_u32() as u8;
                }
                bad[i] = Signature::from_bytes(&b);
            }
            let strict = strict_all(&vk, &good, &bad);
            assert_eq!(key.verify(&good, &bad), strict, "round {round}");
        }
        // Swapped signatures, one message moved, another key, unequal lengths.
        let mut swapped = sigs.clone();
        swapped.swap(3, 4);
        assert!(!key.verify(&good, &swapped));
        let mut moved = good.clone();
        moved.swap(0, 1);
        assert!(!key.verify(&moved, &sigs));
        let other = BatchKey::new(SigningKey::generate(&mut rand_core::OsRng).verifying_key());
        assert!(!other.verify(&good, &sigs));
        assert!(!key.verify(&good[1..], &sigs));
    }

    #[test]
    fn a_non_canonical_s_is_refused_though_the_equation_holds() {
        let (sk, msgs, sigs) = signed(8);
        let vk = sk.verifying_key();
        let key = BatchKey::new(vk);
        // s + l: the same point in the equation, a different (malleated) signature.
        let l = Scalar::ZERO - Scalar::ONE;
        let mut b = sigs[2].to_bytes();
        let mut carry = 1u16; // s + (l - 1) + 1
        for (i, byte) in b[32..].iter_mut().enumerate() {
            let v = *byte as u16 + l.as_bytes()[i] as u16 + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0);
        let mut bad = sigs.clone();
        bad[2] = Signature::from_bytes(&b);
        assert!(vk.verify_strict(&msgs[2], &bad[2]).is_err());
        assert!(!key.verify(&refs(&msgs), &bad));
    }

    #[test]
    fn a_small_order_r_is_refused_though_the_cofactored_equation_holds() {
        // R = T of small order with s = k·a: [8]([s]B - T - [k]A) = [8](-T) = 0, so only
        // the explicit check refuses it, as verify_strict does.
        let (sk, msgs, sigs) = signed(8);
        let vk = sk.verifying_key();
        let key = BatchKey::new(vk);
        for t in EIGHT_TORSION {
            let mut bad = sigs.clone();
            bad[4] = sign_with_r(&sk, Scalar::ZERO, t, &msgs[4]);
            assert!(vk.verify_strict(&msgs[4], &bad[4]).is_err());
            assert!(!key.verify(&refs(&msgs), &bad));
        }
    }

    #[test]
    fn a_torsion_shifted_r_from_the_key_holder_is_the_one_documented_difference() {
        // R = [r]B + T8 with s = r + k·a holds cofactored, not cofactorless: verify_strict
        // refuses it, the batch (like every cofactored verifier) accepts it. Only the secret
        // key's holder can make one (docs/audit.md, "Batch verification").
        let (sk, msgs, mut sigs) = signed(8);
        let vk = sk.verifying_key();
        let r = Scalar::from(123_456_789u64);
        let shifted = EdwardsPoint::mul_base(&r) + EIGHT_TORSION[1];
        sigs[6] = sign_with_r(&sk, r, shifted, &msgs[6]);
        assert!(vk.verify_strict(&msgs[6], &sigs[6]).is_err());
        assert!(BatchKey::new(vk).verify(&refs(&msgs), &sigs));
        // Without the shift the hand-made signature is an ordinary one.
        sigs[6] = sign_with_r(&sk, r, EdwardsPoint::mul_base(&r), &msgs[6]);
        assert!(vk.verify_strict(&msgs[6], &sigs[6]).is_ok());
    }

    #[test]
    fn r_bytes_are_judged_as_the_point_would_be() {
        // Every small-order point, with either sign bit, is refused by bytes as by points.
        for t in EIGHT_TORSION {
            for sign in [0u8, 0x80] {
                let mut b = t.compress().to_bytes();
                b[31] = (b[31] & 0x7f) | sign;
                if let Some(p) = CompressedEdwardsY(b).decompress() {
                    assert!(p.is_small_order());
                }
                assert!(!acceptable_r(&b), "{b:?}");
            }
        }
        // Ordinary points are accepted, whichever sign.
        for i in 1..200u64 {
            let p = EdwardsPoint::mul_base(&Scalar::from(i));
            assert!(!p.is_small_order());
            assert!(acceptable_r(&p.compress().to_bytes()));
            assert!(acceptable_r(&(-p).compress().to_bytes()));
        }
        // y = p + k (k < 19) is the non-canonical form of y = k: refused, decompressing or not.
        for k in 0..19u8 {
            assert!(!acceptable_r(&p_plus(k)));
        }
        let mut below = p_plus(0);
        below[0] = 0xec;
        assert!(canonical_y(&below));
        assert!(!acceptable_r(
            &EdwardsPoint::identity().compress().to_bytes()
        ));
    }

    #[test]
    fn a_key_with_a_small_order_part_is_never_batched() {
        let a = EdwardsPoint::mul_base(&Scalar::from(7u64)) + EIGHT_TORSION[1];
        let key = VerifyingKey::from_bytes(&a.compress().to_bytes()).unwrap();
        assert!(!key.is_weak());
        assert!(!BatchKey::new(key).batchable);
        let fine = EdwardsPoint::mul_base(&Scalar::from(7u64));
        let key = VerifyingKey::from_bytes(&fine.compress().to_bytes()).unwrap();
        assert!(BatchKey::new(key).batchable);
    }
}
