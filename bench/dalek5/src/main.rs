//! Per-signature CPU time of R decompression and of a (n + 2)-point multiscalar
//! multiplication, as verify-log's one-key batch does them, in both curve25519-dalek versions.

fn cpu_ns() -> u64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer for the calling thread's CPU clock.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

struct Rng(u64);
impl Rng {
    fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            chunk.copy_from_slice(&self.0.to_le_bytes());
        }
        out
    }
}

macro_rules! probe {
    ($name:literal, $d:ident, $n:expr, $rounds:expr) => {{
        use $d::edwards::{CompressedEdwardsY, EdwardsPoint};
        use $d::scalar::Scalar;
        use $d::traits::VartimeMultiscalarMul;
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let compressed: Vec<[u8; 32]> = (0..$n)
            .map(|_| EdwardsPoint::mul_base(&Scalar::from_bytes_mod_order(rng.bytes32())).compress().to_bytes())
            .collect();
        // As in the batch: 128-bit random z_i for the R points, two full scalars for B and A.
        let scalars: Vec<Scalar> = (0..$n + 2)
            .map(|i| {
                let mut b = rng.bytes32();
                if i < $n {
                    b[16..].fill(0);
                }
                Scalar::from_bytes_mod_order(b)
            })
            .collect();
        let (mut dec, mut msm) = (u64::MAX, u64::MAX);
        for _ in 0..$rounds {
            let t0 = cpu_ns();
            let mut points: Vec<EdwardsPoint> =
                compressed.iter().map(|c| CompressedEdwardsY(*c).decompress().unwrap()).collect();
            let t1 = cpu_ns();
            points.push(EdwardsPoint::mul_base(&Scalar::ONE));
            points.push(points[0]);
            let r = EdwardsPoint::vartime_multiscalar_mul(&scalars, &points);
            let t2 = cpu_ns();
            std::hint::black_box(r);
            dec = dec.min(t1 - t0);
            msm = msm.min(t2 - t1);
        }
        println!(
            "{}: decompress {:.2} us/sig, multiscalar ({} + 2 points) {:.2} us/sig (best of {} rounds, thread CPU time)",
            $name, dec as f64 / $n as f64 / 1e3, $n, msm as f64 / $n as f64 / 1e3, $rounds
        );
    }};
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(4096);
    for _ in 0..2 {
        probe!("curve25519-dalek 4.1.3", d4, n, 15);
        probe!("curve25519-dalek 5.0.0", d5, n, 15);
    }
}
