//! HMAC (RFC 2104) keyed once, evaluated many times, on the block-level
//! compression functions of the RustCrypto `sha1` and `sha2` crates.
//!
//! This module holds no public API. It exists because an OTP verifier computes
//! the HMAC of a handful of 8-byte counters under one key: keying once (the
//! ipad and opad blocks are compressed a single time) and then finishing each
//! counter with exactly one inner and one outer compression is the arithmetic
//! floor of the algorithm. The hash functions themselves are never
//! reimplemented: every compression is `sha1::block_api::compress`,
//! `sha2::block_api::compress256` or `sha2::block_api::compress512`, so the
//! SHA-NI / ARMv8 / portable back-end selection of those crates applies
//! unchanged (`--cfg sha1_backend="soft"` forces the portable one).
//!
//! What lives here: the padding of the final block(s), the ipad/opad key
//! schedule, and the keyed state that is zeroized on drop. The RFC 2202 and
//! RFC 4231 vectors in `tests/hmac_vectors.rs` and a property test against the
//! `hmac` crate check it.

use zerocopy::IntoBytes as _;
use zeroize::Zeroize;

/// Largest digest this module produces (SHA-512).
pub(crate) const MAX_OUTPUT: usize = 64;

/// Compressions run on the current thread, counted only with the
/// `__count-compressions` feature (a test hook: `tests/hmac_count.rs` proves
/// with it that malformed input is refused before any HMAC work).
#[cfg(feature = "__count-compressions")]
pub(crate) mod counting {
    use core::cell::Cell;

    std::thread_local! {
        static COMPRESSIONS: Cell<u64> = const { Cell::new(0) };
    }

    /// Counts one compression.
    pub(crate) fn bump() {
        COMPRESSIONS.with(|c| c.set(c.get().wrapping_add(1)));
    }

    /// Compressions run on this thread so far.
    pub(crate) fn get() -> u64 {
        COMPRESSIONS.with(Cell::get)
    }
}

/// A hash function seen through its compression function.
pub(crate) trait BlockHash {
    /// The chaining state.
    type State: Copy + Zeroize;
    /// One input block.
    type Block: Copy + Zeroize + AsRef<[u8]> + AsMut<[u8]>;
    /// Digest length in bytes.
    const OUTPUT_LEN: usize;
    /// Bytes at the end of the last block that encode the message length.
    const LENGTH_FIELD: usize;
    /// The initial chaining value.
    const IV: Self::State;
    /// An all-zero block.
    const ZERO_BLOCK: Self::Block;
    /// A block as 64-bit words, for the key schedule: wiping the key's
    /// bytes from it then takes one store per 8 bytes.
    type Words: Copy + AsMut<[u64]> + zerocopy::IntoBytes + zerocopy::FromBytes;
    /// An all-zero block of words.
    const ZERO_WORDS: Self::Words;
    /// The words as the block they are.
    fn words_block(words: &Self::Words) -> &Self::Block;
    /// Compresses one block into the state.
    fn compress(state: &mut Self::State, block: &Self::Block);
    /// Writes the state as a big-endian digest into `out[..OUTPUT_LEN]`.
    fn write_digest(state: &Self::State, out: &mut [u8]);
    /// The padded inner block of an HMAC over an 8-byte `counter`.
    fn counter_block(counter: u64) -> Self::Block;
    /// The padded outer block over the inner `state`'s digest.
    fn outer_block(state: &Self::State) -> Self::Block;
    /// RFC 4226 dynamic truncation of the digest of `state`, computed on
    /// the state words with shifts only (no secret-dependent memory index).
    fn truncate(state: &Self::State) -> u32;
}

/// The 4 bytes at `offset` (0..=15) of a big-endian digest given as 16-byte
/// lanes `hi` ‖ `lo`, top bit cleared.
#[inline(always)]
fn truncate_lanes(hi: u128, lo: u128, offset: u32) -> u32 {
    let bits = offset.saturating_mul(8);
    let window = hi.checked_shl(bits).unwrap_or(0)
        | lo.checked_shr(128u32.saturating_sub(bits)).unwrap_or(0);
    ((window >> 96) as u32) & 0x7fff_ffff
}

/// `(a << 96) | (b << 64) | (c << 32) | d`.
#[inline(always)]
fn lane32(a: u32, b: u32, c: u32, d: u32) -> u128 {
    (u128::from(a) << 96) | (u128::from(b) << 64) | (u128::from(c) << 32) | u128::from(d)
}

/// A 16-byte lane of a block: bytes 0..8 are `lo` and bytes 8..16 are `hi`,
/// each little-endian (so a big-endian field is written byte-swapped).
///
/// Blocks are assembled from whole lanes ([`block4`], [`block8`]) because
/// the compression functions read their block in 16-byte loads: a load that
/// overlaps two earlier stores (an 8-byte counter over a 16-byte template,
/// a 4-byte digest word beside a lane, or a lane written as two 8-byte
/// halves) cannot be forwarded from the store buffer and waits until both
/// stores reach the cache, once per chain of a batch. On x86_64 a lane is
/// built in one SSE2 register (`safe_arch`, a safe wrapper of the
/// intrinsics: the compiler alone writes a pair of `u64`s as two 8-byte
/// stores), so it is written by exactly one 16-byte store.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lane(lo: u64, hi: u64) -> [u8; 16] {
    safe_arch::set_i64_m128i(hi as i64, lo as i64).into()
}

/// A 16-byte lane of a block (see the x86_64 version for why lanes).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn lane(lo: u64, hi: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    let (a, b) = out.split_at_mut(8);
    a.copy_from_slice(&lo.to_le_bytes());
    b.copy_from_slice(&hi.to_le_bytes());
    out
}

/// An all-zero lane.
const ZERO_LANE: [u8; 16] = [0; 16];

/// Two big-endian 32-bit words as the little-endian `u64` of their 8 bytes.
#[inline(always)]
fn be_pair(a: u32, b: u32) -> u64 {
    u64::from(a.swap_bytes()) | (u64::from(b.swap_bytes()) << 32)
}

/// The last lane of a final block: the message length in bits, big-endian,
/// in its last 8 bytes (SHA-512's 16-byte length field has zeros in its
/// upper half at these lengths).
#[inline(always)]
fn length_lane(bits: u64) -> [u8; 16] {
    lane(0, bits.swap_bytes())
}

/// The first lane of a final block over an 8-byte `counter`: the counter
/// big-endian, then the 0x80 pad byte.
#[inline(always)]
fn counter_lane(counter: u64) -> [u8; 16] {
    lane(counter.swap_bytes(), 0x80)
}

/// The inner final block of HMAC-SHA-1 and HMAC-SHA-256 over an 8-byte
/// counter: (64 + 8) bytes = 576 bits.
#[inline(always)]
fn counter_block64(counter: u64) -> [u8; 64] {
    block4([
        counter_lane(counter),
        ZERO_LANE,
        ZERO_LANE,
        length_lane(576),
    ])
}

/// A 64-byte block from its four lanes.
#[inline(always)]
fn block4(lanes: [[u8; 16]; 4]) -> [u8; 64] {
    zerocopy::transmute!(lanes)
}

/// A 128-byte block from its eight lanes.
#[cfg(feature = "sha2")]
#[inline(always)]
fn block8(lanes: [[u8; 16]; 8]) -> [u8; 128] {
    zerocopy::transmute!(lanes)
}

/// Block length in bytes of `H`.
fn block_len<H: BlockHash>() -> usize {
    H::ZERO_BLOCK.as_ref().len()
}

/// SHA-1 (FIPS 180-4).
#[derive(Debug)]
pub(crate) enum Sha1 {}

impl BlockHash for Sha1 {
    type State = [u32; 5];
    type Block = [u8; 64];
    const OUTPUT_LEN: usize = 20;
    const LENGTH_FIELD: usize = 8;
    const IV: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    const ZERO_BLOCK: [u8; 64] = [0; 64];
    type Words = [u64; 8];
    const ZERO_WORDS: [u64; 8] = [0; 8];
    #[inline(always)]
    fn words_block(words: &[u64; 8]) -> &[u8; 64] {
        zerocopy::transmute_ref!(words)
    }
    #[inline(always)]
    fn compress(state: &mut [u32; 5], block: &[u8; 64]) {
        #[cfg(feature = "__count-compressions")]
        counting::bump();
        sha1::block_api::compress(state, core::slice::from_ref(block));
    }
    #[inline(always)]
    fn write_digest(state: &[u32; 5], out: &mut [u8]) {
        for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
    #[inline(always)]
    fn counter_block(counter: u64) -> [u8; 64] {
        counter_block64(counter)
    }
    #[inline(always)]
    fn outer_block(s: &[u32; 5]) -> [u8; 64] {
        // The 20-byte digest, 0x80; (64 + 20) bytes = 672 bits.
        block4([
            lane(be_pair(s[0], s[1]), be_pair(s[2], s[3])),
            lane(u64::from(s[4].swap_bytes()) | (0x80 << 32), 0),
            ZERO_LANE,
            length_lane(672),
        ])
    }
    #[inline(always)]
    fn truncate(s: &[u32; 5]) -> u32 {
        truncate_lanes(
            lane32(s[0], s[1], s[2], s[3]),
            lane32(s[4], 0, 0, 0),
            s[4] & 0xf,
        )
    }
}

/// SHA-256 (FIPS 180-4).
#[cfg(feature = "sha2")]
#[derive(Debug)]
pub(crate) enum Sha256 {}

#[cfg(feature = "sha2")]
impl BlockHash for Sha256 {
    type State = [u32; 8];
    type Block = [u8; 64];
    const OUTPUT_LEN: usize = 32;
    const LENGTH_FIELD: usize = 8;
    const IV: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];
    const ZERO_BLOCK: [u8; 64] = [0; 64];
    type Words = [u64; 8];
    const ZERO_WORDS: [u64; 8] = [0; 8];
    #[inline(always)]
    fn words_block(words: &[u64; 8]) -> &[u8; 64] {
        zerocopy::transmute_ref!(words)
    }
    #[inline(always)]
    fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
        #[cfg(feature = "__count-compressions")]
        counting::bump();
        sha2::block_api::compress256(state, core::slice::from_ref(block));
    }
    #[inline(always)]
    fn write_digest(state: &[u32; 8], out: &mut [u8]) {
        for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
    #[inline(always)]
    fn counter_block(counter: u64) -> [u8; 64] {
        counter_block64(counter)
    }
    #[inline(always)]
    fn outer_block(s: &[u32; 8]) -> [u8; 64] {
        // The 32-byte digest, 0x80; (64 + 32) bytes = 768 bits.
        block4([
            lane(be_pair(s[0], s[1]), be_pair(s[2], s[3])),
            lane(be_pair(s[4], s[5]), be_pair(s[6], s[7])),
            lane(0x80, 0),
            length_lane(768),
        ])
    }
    #[inline(always)]
    fn truncate(s: &[u32; 8]) -> u32 {
        truncate_lanes(
            lane32(s[0], s[1], s[2], s[3]),
            lane32(s[4], s[5], s[6], s[7]),
            s[7] & 0xf,
        )
    }
}

/// SHA-512 (FIPS 180-4).
#[cfg(feature = "sha2")]
#[derive(Debug)]
pub(crate) enum Sha512 {}

#[cfg(feature = "sha2")]
impl BlockHash for Sha512 {
    type State = [u64; 8];
    type Block = [u8; 128];
    const OUTPUT_LEN: usize = 64;
    const LENGTH_FIELD: usize = 16;
    const IV: [u64; 8] = [
        0x6a09_e667_f3bc_c908,
        0xbb67_ae85_84ca_a73b,
        0x3c6e_f372_fe94_f82b,
        0xa54f_f53a_5f1d_36f1,
        0x510e_527f_ade6_82d1,
        0x9b05_688c_2b3e_6c1f,
        0x1f83_d9ab_fb41_bd6b,
        0x5be0_cd19_137e_2179,
    ];
    const ZERO_BLOCK: [u8; 128] = [0; 128];
    type Words = [u64; 16];
    const ZERO_WORDS: [u64; 16] = [0; 16];
    #[inline(always)]
    fn words_block(words: &[u64; 16]) -> &[u8; 128] {
        zerocopy::transmute_ref!(words)
    }
    #[inline(always)]
    fn compress(state: &mut [u64; 8], block: &[u8; 128]) {
        #[cfg(feature = "__count-compressions")]
        counting::bump();
        sha2::block_api::compress512(state, core::slice::from_ref(block));
    }
    #[inline(always)]
    fn write_digest(state: &[u64; 8], out: &mut [u8]) {
        for (chunk, word) in out.chunks_exact_mut(8).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
    #[inline(always)]
    fn counter_block(counter: u64) -> [u8; 128] {
        // (128 + 8) bytes = 1088 bits.
        let z = ZERO_LANE;
        block8([counter_lane(counter), z, z, z, z, z, z, length_lane(1088)])
    }
    #[inline(always)]
    fn outer_block(s: &[u64; 8]) -> [u8; 128] {
        // The 64-byte digest, 0x80; (128 + 64) bytes = 1536 bits.
        let w = |i: usize| s.get(i).map_or(0, |v| v.swap_bytes());
        block8([
            lane(w(0), w(1)),
            lane(w(2), w(3)),
            lane(w(4), w(5)),
            lane(w(6), w(7)),
            lane(0x80, 0),
            ZERO_LANE,
            ZERO_LANE,
            length_lane(1536),
        ])
    }
    #[inline(always)]
    fn truncate(s: &[u64; 8]) -> u32 {
        let l = |a: u64, b: u64| (u128::from(a) << 64) | u128::from(b);
        truncate_lanes(l(s[0], s[1]), l(s[2], s[3]), (s[7] & 0xf) as u32)
    }
}

/// Hashes `msg` starting from `state`, which has already absorbed
/// `prefix_blocks` whole blocks, and applies the final padding.
///
/// Allocation-free; the length field is computed in `u128`, which no message
/// that fits in memory can overflow.
#[inline(always)]
fn finish<H: BlockHash>(mut state: H::State, prefix_blocks: usize, msg: &[u8]) -> H::State {
    let bl = block_len::<H>();
    let mut chunks = msg.chunks_exact(bl);
    let mut block = H::ZERO_BLOCK;
    for chunk in &mut chunks {
        block.as_mut().copy_from_slice(chunk);
        H::compress(&mut state, &block);
    }
    let rest = chunks.remainder();
    block = H::ZERO_BLOCK;
    let b = block.as_mut();
    b[..rest.len()].copy_from_slice(rest);
    b[rest.len()] = 0x80;
    // `rest.len() < bl`, so the 0x80 byte always fits; the length field may not.
    if rest.len() >= bl.saturating_sub(H::LENGTH_FIELD) {
        H::compress(&mut state, &block);
        block = H::ZERO_BLOCK;
    }
    let total_bytes = (prefix_blocks as u128)
        .saturating_mul(bl as u128)
        .saturating_add(msg.len() as u128);
    let bits = total_bytes.saturating_mul(8).to_be_bytes();
    let b = block.as_mut();
    b[bl.saturating_sub(H::LENGTH_FIELD)..]
        .copy_from_slice(&bits[16usize.saturating_sub(H::LENGTH_FIELD)..]);
    H::compress(&mut state, &block);
    block.zeroize();
    state
}

/// Plain hash of `msg` into `out[..H::OUTPUT_LEN]`; used for keys longer than a block.
fn digest<H: BlockHash>(msg: &[u8], out: &mut [u8]) {
    let mut state = finish::<H>(H::IV, 0, msg);
    H::write_digest(&state, out);
    state.zeroize();
}

/// An HMAC key schedule: the chaining states after the ipad and opad blocks.
///
/// Holding one of these is equivalent to holding the key; it is zeroized on
/// drop and never printed.
pub(crate) struct Keyed<H: BlockHash> {
    inner: H::State,
    outer: H::State,
}

impl<H: BlockHash> Clone for Keyed<H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner,
            outer: self.outer,
        }
    }
}

impl<H: BlockHash> Keyed<H> {
    /// Runs the RFC 2104 key schedule: two compressions (three for a key
    /// longer than one block, which is hashed first).
    pub(crate) fn new(key: &[u8]) -> Self {
        let bl = block_len::<H>();
        // One block holds the key, XORed with ipad, then turned into the
        // opad block in place. Only the words that hold key bytes need
        // wiping; the rest are 0x36 / 0x5c.
        let mut pad = H::ZERO_WORDS;
        let keyed_len = if key.len() > bl {
            digest::<H>(key, pad.as_mut_bytes());
            H::OUTPUT_LEN
        } else {
            if let Some(head) = pad.as_mut_bytes().get_mut(..key.len()) {
                crate::secret::copy_key(head, key);
            }
            key.len()
        };
        // Byte-wise, which compiles to 16-byte vector operations: the
        // compression's 16-byte loads then forward from whole stores.
        for byte in pad.as_mut_bytes() {
            *byte ^= 0x36;
        }
        // Compressed in place in the value returned: no copy of the two
        // states follows the compressions (on AMD a move of them right
        // after their stores missed store-to-load forwarding).
        let mut this = Self {
            inner: H::IV,
            outer: H::IV,
        };
        H::compress(&mut this.inner, H::words_block(&pad));
        for byte in pad.as_mut_bytes() {
            *byte ^= 0x36 ^ 0x5c;
        }
        H::compress(&mut this.outer, H::words_block(&pad));
        if let Some(keyed) = pad.as_mut().get_mut(..keyed_len.div_ceil(8)) {
            keyed.zeroize();
        }
        this
    }

    /// HMAC of an arbitrary message into `out[..H::OUTPUT_LEN]`.
    #[inline(always)]
    pub(crate) fn mac_into(&self, msg: &[u8], out: &mut [u8; MAX_OUTPUT]) {
        let mut inner = finish::<H>(self.inner, 1, msg);
        let mut inner_digest = [0u8; MAX_OUTPUT];
        H::write_digest(&inner, &mut inner_digest);
        let mut outer = finish::<H>(self.outer, 1, &inner_digest[..H::OUTPUT_LEN]);
        H::write_digest(&outer, out);
        inner.zeroize();
        outer.zeroize();
        inner_digest.zeroize();
    }

    /// HMAC of each of `N` big-endian 8-byte counters (the HOTP/TOTP
    /// message), reduced by RFC 4226 dynamic truncation to a 31-bit value.
    /// Exactly one inner and one outer compression per counter.
    ///
    /// All `N` inner compressions run back to back, then all `N` outer
    /// ones. Each compression in a row is independent of the one before it,
    /// so the CPU overlaps them; that is the arithmetic floor of a windowed
    /// verification. `N` is a constant, so the blocks are built straight
    /// into place with no zero-filled spare blocks and no per-counter
    /// branch.
    ///
    /// The per-call scratch (blocks and states derived from the key schedule
    /// and public counters) is not wiped: it is overwritten by later calls,
    /// and wiping it would cost more than the HMAC. The key schedule itself
    /// is wiped when the [`Keyed`] is dropped.
    #[inline(always)]
    pub(crate) fn truncated_n<const N: usize>(&self, counters: &[u64; N]) -> [u32; N] {
        let blocks: [H::Block; N] = core::array::from_fn(|i| H::counter_block(counters[i]));
        let mut inner = [self.inner; N];
        for (state, block) in inner.iter_mut().zip(&blocks) {
            H::compress(state, block);
        }
        let blocks: [H::Block; N] = core::array::from_fn(|i| H::outer_block(&inner[i]));
        let mut outer = [self.outer; N];
        for (state, block) in outer.iter_mut().zip(&blocks) {
            H::compress(state, block);
        }
        core::array::from_fn(|i| H::truncate(&outer[i]))
    }

    /// [`Keyed::truncated_n`] for one counter.
    #[inline(always)]
    pub(crate) fn truncated(&self, counter: u64) -> u32 {
        let [value] = self.truncated_n(&[counter]);
        value
    }
}

/// The most counters [`AnyKeyed::truncated_n`] is asked for at once: enough
/// to cover a ±1 window in one batch and keep four compressions in flight;
/// small enough that a SHA-512 batch needs 1 KiB of stack.
pub(crate) const BATCH: usize = 4;

impl<H: BlockHash> Drop for Keyed<H> {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// A keyed HMAC for one of the supported hash functions.
#[derive(Clone)]
pub(crate) enum AnyKeyed {
    Sha1(Keyed<Sha1>),
    #[cfg(feature = "sha2")]
    Sha256(Keyed<Sha256>),
    #[cfg(feature = "sha2")]
    Sha512(Keyed<Sha512>),
}

impl AnyKeyed {
    /// Keys the HMAC of `algorithm` with `key` (any length: longer than a
    /// block is hashed first, RFC 2104).
    pub(crate) fn new(algorithm: crate::Algorithm, key: &[u8]) -> Self {
        match algorithm {
            crate::Algorithm::Sha1 => Self::Sha1(Keyed::new(key)),
            #[cfg(feature = "sha2")]
            crate::Algorithm::Sha256 => Self::Sha256(Keyed::new(key)),
            #[cfg(feature = "sha2")]
            crate::Algorithm::Sha512 => Self::Sha512(Keyed::new(key)),
        }
    }

    /// Full HMAC of `msg`; returns the digest length written to `out`.
    pub(crate) fn mac_into(&self, msg: &[u8], out: &mut [u8; MAX_OUTPUT]) -> usize {
        match self {
            Self::Sha1(k) => {
                k.mac_into(msg, out);
                Sha1::OUTPUT_LEN
            }
            #[cfg(feature = "sha2")]
            Self::Sha256(k) => {
                k.mac_into(msg, out);
                Sha256::OUTPUT_LEN
            }
            #[cfg(feature = "sha2")]
            Self::Sha512(k) => {
                k.mac_into(msg, out);
                Sha512::OUTPUT_LEN
            }
        }
    }

    /// Dynamic truncation of the HMAC of `counter`.
    #[inline]
    pub(crate) fn truncated(&self, counter: u64) -> u32 {
        match self {
            Self::Sha1(k) => k.truncated(counter),
            #[cfg(feature = "sha2")]
            Self::Sha256(k) => k.truncated(counter),
            #[cfg(feature = "sha2")]
            Self::Sha512(k) => k.truncated(counter),
        }
    }

    /// Dynamic truncations of the HMACs of `N` counters, batched
    /// ([`Keyed::truncated_n`]).
    #[inline(always)]
    pub(crate) fn truncated_n<const N: usize>(&self, counters: &[u64; N]) -> [u32; N] {
        match self {
            Self::Sha1(k) => k.truncated_n(counters),
            #[cfg(feature = "sha2")]
            Self::Sha256(k) => k.truncated_n(counters),
            #[cfg(feature = "sha2")]
            Self::Sha512(k) => k.truncated_n(counters),
        }
    }
}
