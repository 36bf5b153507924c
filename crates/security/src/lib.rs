//! Tozalash's cryptography adapters: argon2id password hashing run off the
//! async executor with bounded concurrency, and opaque random tokens stored
//! only as SHA-256 hashes.

use std::sync::{Arc, Mutex};

use argon2::password_hash::{self, Output, ParamsString, PasswordHash as Phc, SaltString};
use argon2::{Algorithm, Params, Version};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use tozalash_domain::error::BoxError;
use tozalash_domain::{
    Password, PasswordHash, PasswordHasher, SecretToken, SecretTokens, TokenHash,
};

/// argon2id with OWASP's recommended minimum: 19 MiB of memory, 2 passes, 1 lane.
pub const OWASP_PARAMS: (u32, u32, u32) = (19 * 1024, 2, 1);

/// How many nice steps the hashing threads run below the rest of the server
/// (nice 0 is normal, 19 the lowest): under a flood of logins the scheduler
/// lets requests that need no hash go first.
pub const HASHING_NICE: i32 = 10;

/// Hashes and verifies passwords with argon2id off the async executor, on a
/// dedicated pool of `concurrency` threads: at most that many hashes run at
/// once (each takes 19 MiB and most of a core), so a flood of logins queues
/// instead of starving the rest of the server. The threads run at a lower
/// scheduling priority ([`HASHING_NICE`], on Linux), so requests that need no
/// hash keep their latency while the hashes use what CPU is left.
///
/// The computation is `argon2-rust` (a port of the reference implementation
/// with run-time chosen SIMD: AVX-512, AVX2, SSE2, NEON), about a third
/// faster here than RustCrypto's `argon2`, with the same algorithm and
/// parameters: its tags are checked against RFC 9106's test vector and
/// against RustCrypto's (tests below). The PHC strings are still read and
/// written by RustCrypto's `password-hash`, so every stored hash keeps
/// verifying and new ones are byte for byte what `argon2` wrote.
///
/// Memory: each hash needs `m` KiB of blocks. Rather than allocating (and
/// faulting in) 19 MiB per hash, the blocks live in a small pool of
/// `argon2-rust` hashers (each keeps its arena), at most one per thread,
/// reused from one hash to the next while logins come in (queued or running),
/// and handed back to the system as soon as none is left: memory peaks at
/// `concurrency` × 19 MiB during a flood and drops back when it stops. The
/// reused memory holds nothing a hash depends on: argon2 writes every block
/// before reading it.
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    pool: Arc<rayon::ThreadPool>,
    memory: Arc<HasherPool>,
    /// Verified against when an account does not exist, so that an unknown
    /// e-mail costs the same time as a wrong password.
    dummy: Arc<String>,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher").field("params", &self.params).finish_non_exhaustive()
    }
}

/// Spare hashers (each with its arena), handed out one per running hash and
/// taken back after, kept only while more hashes are queued or running.
#[derive(Default)]
struct HasherPool {
    state: Mutex<PoolState>,
}

impl std::fmt::Debug for HasherPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HasherPool").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct PoolState {
    spare: Vec<argon2_rust::Hasher>,
    /// Hashes queued or running.
    pending: usize,
}

impl HasherPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        // A panic inside a hash cannot leave the list half-changed.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A hash is queued.
    fn enter(&self) {
        self.lock().pending += 1;
    }

    /// A hash is done: when none is left, the spare arenas go back to the system.
    fn leave(&self) {
        let released = {
            let mut state = self.lock();
            state.pending = state.pending.saturating_sub(1);
            match state.pending {
                0 => std::mem::take(&mut state.spare),
                _ => Vec::new(),
            }
        };
        drop(released);
    }

    /// A hasher set to `config`: a spare one (keeping its arena), or a new one.
    fn take(&self, config: argon2_rust::Argon2) -> argon2_rust::Hasher {
        let spare = self.lock().spare.pop();
        match spare {
            Some(mut hasher) => {
                hasher.set_argon2(config);
                hasher
            }
            None => config.hasher(),
        }
    }

    /// Keeps `hasher` for the next hash if its arena has the `usual` number of
    /// blocks (one sized for a stored hash with other parameters is dropped)
    /// and fewer than `keep` are spare.
    fn give_back(&self, hasher: argon2_rust::Hasher, usual: usize, keep: usize) {
        let mut state = self.lock();
        if hasher.reserved_blocks() == usual && state.spare.len() < keep {
            state.spare.push(hasher);
        }
    }

    fn spare_bytes(&self) -> usize {
        self.lock().spare.iter().map(|h| h.reserved_blocks() * 1024).sum()
    }
}

/// Lowers the calling thread's scheduling priority (Linux: nice is per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::getpriority_process(None).and_then(|nice| {
        let lower = (nice + HASHING_NICE).min(19);
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), lower)
    }) {
        tracing::warn!(error = %e, "could not lower the priority of a password-hashing thread");
    }
}

/// The `argon2-rust` configuration for an argon2id (version 19) or other
/// stored hash with `params`, giving `tag_len` bytes.
fn config(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    tag_len: usize,
) -> Result<argon2_rust::Argon2, BoxError> {
    use argon2_rust::params::{Memory, TagLen};
    let algorithm = match algorithm {
        Algorithm::Argon2d => argon2_rust::Algorithm::Argon2d,
        Algorithm::Argon2i => argon2_rust::Algorithm::Argon2i,
        Algorithm::Argon2id => argon2_rust::Algorithm::Argon2id,
    };
    let version = match version {
        Version::V0x10 => argon2_rust::Version::V0x10,
        Version::V0x13 => argon2_rust::Version::V0x13,
    };
    let params = argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(params.m_cost())))
        .passes(params.t_cost())
        .lanes(params.p_cost())
        .tag_len(TagLen::bytes(tag_len as u64))
        .build()
        .map_err(|e| format!("argon2 parameters: {e:?}"))?;
    Ok(argon2_rust::Argon2::new(algorithm, version, params))
}

impl Argon2Hasher {
    /// OWASP parameters, as many concurrent hashes as there are cores.
    pub fn new() -> Result<Self, BoxError> {
        let (m, t, p) = OWASP_PARAMS;
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self::with_params(m, t, p, cores)
    }

    /// Custom cost parameters (tests use tiny ones) and concurrency.
    pub fn with_params(
        memory_kib: u32,
        passes: u32,
        lanes: u32,
        concurrency: usize,
    ) -> Result<Self, BoxError> {
        let params = Params::new(memory_kib, passes, lanes, None).map_err(|e| e.to_string())?;
        let concurrency = concurrency.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(concurrency)
            .thread_name(|i| format!("argon2-{i}"))
            .start_handler(|_| lower_priority())
            .build()?;
        let memory = Arc::new(HasherPool::default());
        let mut hasher =
            Self { params, pool: Arc::new(pool), memory, dummy: Arc::new(String::new()) };
        let dummy = hasher.hash_blocking(&URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()))?;
        hasher.dummy = Arc::new(dummy);
        hasher.memory.enter();
        hasher.memory.leave();
        Ok(hasher)
    }

    /// How many bytes of hashing memory are kept for the next hashes (none
    /// once no hash is queued or running).
    pub fn retained_memory(&self) -> usize {
        self.memory.spare_bytes()
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Self) -> Result<T, BoxError> + Send + 'static,
    ) -> Result<T, BoxError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let this = self.clone();
        self.memory.enter();
        self.pool.spawn(move || {
            let result = work(&this);
            this.memory.leave();
            // The caller may have gone (a closed connection); nobody to tell then.
            let _ = done.send(result);
        });
        result.await.map_err(|_| "the password-hashing thread stopped")?
    }

    /// The tag of `password` and `salt` under `config`, into `out`, on pooled memory.
    fn tag_into(
        &self,
        config: argon2_rust::Argon2,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), BoxError> {
        let mut hasher = self.memory.take(config);
        let result =
            hasher.hash_into(password, salt, out).map_err(|e| format!("argon2: {e:?}").into());
        self.memory.give_back(hasher, self.params.block_count(), self.pool.current_num_threads());
        result
    }

    /// A new PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), exactly what
    /// RustCrypto `argon2`'s own `hash_password` writes.
    fn hash_blocking(&self, password: &str) -> Result<String, BoxError> {
        let salt =
            SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| e.to_string())?;
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes).map_err(|e| e.to_string())?;
        let len = self.params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let config = config(Algorithm::Argon2id, Version::V0x13, &self.params, len)?;
        let hash = Output::init_with(len, |out| {
            self.tag_into(config, password.as_bytes(), salt_bytes, out)
                .map_err(|_| password_hash::Error::Crypto)
        })
        .map_err(|e| e.to_string())?;
        let phc = Phc {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| e.to_string())?,
            salt: Some(salt.as_salt()),
            hash: Some(hash),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` is the one `phc` was made from; the stored string's own
    /// algorithm, version and parameters are used, as `argon2`'s
    /// `verify_password` does, and the outputs are compared in constant time.
    fn verify_blocking(&self, password: &str, phc: &str) -> Result<bool, BoxError> {
        let parsed = Phc::new(phc).map_err(|e| e.to_string())?;
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err("the stored password hash has no salt or no output".into());
        };
        let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| e.to_string())?;
        let config = config(algorithm, version, &params, expected.len())?;
        let computed = Output::init_with(expected.len(), |out| {
            self.tag_into(config, password.as_bytes(), salt_bytes, out)
                .map_err(|_| password_hash::Error::Crypto)
        });
        // `Output`'s equality is constant-time.
        Ok(computed.map_err(|e| e.to_string())? == expected)
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, BoxError> {
        let password = password.expose().to_owned();
        self.run(move |this| this.hash_blocking(&password)).await.map(PasswordHash::from_phc)
    }

    async fn verify<'a>(
        &self,
        password: &Password,
        hash: Option<&'a PasswordHash>,
    ) -> Result<bool, BoxError> {
        let password = password.expose().to_owned();
        let (phc, known) = match hash {
            Some(hash) => (hash.as_str().to_owned(), true),
            None => (self.dummy.as_str().to_owned(), false),
        };
        let matches = self.run(move |this| this.verify_blocking(&password, &phc)).await?;
        Ok(known && matches)
    }
}

/// 256-bit random tokens, URL-safe base64 (43 characters), hashed with SHA-256.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomTokens;

impl SecretTokens for RandomTokens {
    fn generate(&self) -> SecretToken {
        let plain = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let hash = self.hash(&plain);
        SecretToken { plain, hash }
    }

    fn hash(&self, plain: &str) -> TokenHash {
        TokenHash(Sha256::digest(plain.as_bytes()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(s: &str) -> Password {
        Password::parse_attempt("password", s).expect("valid")
    }

    fn fast() -> Argon2Hasher {
        Argon2Hasher::with_params(64, 1, 1, 2).expect("params")
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = fast();
        let hash = hasher.hash(&password("Gilam-yuvish-2026")).await.expect("hashed");
        assert!(hash.as_str().starts_with("$argon2id$v=19$"));
        assert!(hasher.verify(&password("Gilam-yuvish-2026"), Some(&hash)).await.expect("ok"));
        assert!(!hasher.verify(&password("gilam-yuvish-2026"), Some(&hash)).await.expect("ok"));
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = fast();
        assert!(!hasher.verify(&password("anything"), None).await.expect("ok"));
    }

    #[tokio::test]
    async fn the_default_hasher_uses_owasp_parameters() {
        let hasher = Argon2Hasher::new().expect("params");
        let hash = hasher.hash(&password("Gilam-yuvish-2026")).await.expect("hashed");
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.as_str());
    }

    /// Made by the previous implementation (`argon2`'s own `hash_password`) at
    /// the OWASP parameters, with the salt `tozalash-salt-16`.
    const STORED: &str = "$argon2id$v=19$m=19456,t=2,p=1$dG96YWxhc2gtc2FsdC0xNg$PKF6t2Evl7BSFJY83SLsX92p+vFoekdwCaNTDffu1uU";

    #[tokio::test]
    async fn hashes_stored_by_the_previous_implementation_still_verify() {
        // Fast parameters for new hashes: the stored string's own apply.
        let hasher = fast();
        let stored = PasswordHash::from_phc(STORED.into());
        assert!(hasher.verify(&password("Gilam-yuvish-2026"), Some(&stored)).await.expect("ok"));
        assert!(!hasher.verify(&password("Gilam-yuvish-2027"), Some(&stored)).await.expect("ok"));
        // A second time, on memory the first verify handed back or left spare.
        assert!(hasher.verify(&password("Gilam-yuvish-2026"), Some(&stored)).await.expect("ok"));
    }

    #[test]
    fn the_same_salt_gives_the_string_argon2_itself_writes() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        use argon2::Argon2;
        let hasher = Argon2Hasher::with_params(256, 2, 1, 1).expect("params");
        let ours = hasher.hash_blocking("Gilam-yuvish-2026").expect("hashed");
        let parsed = Phc::new(&ours).expect("a PHC string");
        let salt = parsed.salt.expect("salt");
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, hasher.params.clone())
            .hash_password(b"Gilam-yuvish-2026", salt)
            .expect("hashed")
            .to_string();
        assert_eq!(ours, theirs);
        assert!(Argon2::new(Algorithm::Argon2id, Version::V0x13, hasher.params.clone())
            .verify_password(b"Gilam-yuvish-2026", &parsed)
            .is_ok());
    }

    #[tokio::test]
    async fn hashing_memory_is_handed_back_once_no_hash_is_left() {
        let hasher = fast();
        let hash = hasher.hash(&password("Gilam-yuvish-2026")).await.expect("hashed");
        let checks: Vec<_> = (0..8)
            .map(|_| {
                let (hasher, hash) = (hasher.clone(), hash.clone());
                tokio::spawn(async move {
                    hasher.verify(&password("Gilam-yuvish-2026"), Some(&hash)).await
                })
            })
            .collect();
        for check in checks {
            assert!(check.await.expect("joined").expect("verified"));
        }
        assert_eq!(hasher.retained_memory(), 0);
    }

    #[test]
    fn an_arena_is_reused_while_hashes_are_pending_and_released_after() {
        let small = Params::new(8, 1, 1, None).unwrap();
        let large = Params::new(16, 1, 1, None).unwrap();
        let eight = config(Algorithm::Argon2id, Version::V0x13, &small, 32).unwrap();
        let sixteen = config(Algorithm::Argon2id, Version::V0x13, &large, 32).unwrap();
        let hash = |hasher: &mut argon2_rust::Hasher| {
            hasher.hash_into(b"Gilam-yuvish-2026", b"tozalash-salt-16", &mut [0u8; 32]).unwrap();
        };
        let pool = HasherPool::default();
        pool.enter();
        pool.enter();
        let mut first = pool.take(eight);
        hash(&mut first);
        pool.give_back(first, 8, 2);
        pool.leave();
        assert_eq!(pool.spare_bytes(), 8 * 1024, "kept while a hash is pending");
        let again = pool.take(eight);
        assert_eq!(again.reserved_blocks(), 8, "the same arena, not a new one");
        pool.give_back(again, 8, 2);
        pool.leave();
        assert_eq!(pool.spare_bytes(), 0, "released when none is left");
        // An arena of unusual size (a stored hash with other parameters) is not kept.
        pool.enter();
        let mut odd = pool.take(sixteen);
        hash(&mut odd);
        pool.give_back(odd, 8, 2);
        assert_eq!(pool.spare_bytes(), 0);
        pool.leave();
    }

    /// RFC 9106, section 5.3: the Argon2id test vector (with a secret and
    /// associated data, four lanes), before trusting `argon2-rust`.
    #[test]
    fn argon2_rust_gives_the_rfc_9106_argon2id_test_vector() {
        let params = argon2_rust::Params::builder()
            .memory(argon2_rust::params::Memory::kib(32))
            .passes(3)
            .lanes(4)
            .build()
            .unwrap();
        let argon2 = argon2_rust::Argon2::new(
            argon2_rust::Algorithm::Argon2id,
            argon2_rust::Version::V0x13,
            params,
        );
        let mut tag = [0u8; 32];
        argon2.hash_into_with_ad(&[1; 32], &[2; 16], &[3; 8], &[4; 12], &mut tag).unwrap();
        assert_eq!(
            tag,
            [
                0x0d, 0x64, 0x0d, 0xf5, 0x8d, 0x78, 0x76, 0x6c, 0x08, 0xc0, 0x37, 0xa3, 0x4a, 0x8b,
                0x53, 0xc9, 0xd0, 0x1e, 0xf0, 0x45, 0x2d, 0x75, 0xb6, 0x5e, 0xb5, 0x25, 0x20, 0xe9,
                0x6b, 0x01, 0xe6, 0x59,
            ]
        );
    }

    /// The same tags as RustCrypto's `argon2` over several parameter sets, the
    /// production ones included, for the three algorithms and both versions.
    #[test]
    fn argon2_rust_and_rustcrypto_argon2_give_the_same_tags() {
        use argon2::Argon2;
        let cases = [
            (Algorithm::Argon2id, Version::V0x13, 19 * 1024, 2, 1),
            (Algorithm::Argon2id, Version::V0x13, 64, 1, 1),
            (Algorithm::Argon2id, Version::V0x13, 4096, 3, 2),
            (Algorithm::Argon2i, Version::V0x13, 1024, 2, 1),
            (Algorithm::Argon2d, Version::V0x10, 1024, 2, 1),
        ];
        for (algorithm, version, m, t, p) in cases {
            let params = Params::new(m, t, p, None).unwrap();
            let mut theirs = [0u8; 32];
            Argon2::new(algorithm, version, params.clone())
                .hash_password_into(b"Gilam-yuvish-2026", b"tozalash-salt-16", &mut theirs)
                .unwrap();
            let mut ours = [0u8; 32];
            config(algorithm, version, &params, 32)
                .unwrap()
                .hash_into(b"Gilam-yuvish-2026", b"tozalash-salt-16", &mut ours)
                .unwrap();
            assert_eq!(ours, theirs, "{algorithm:?} {version:?} m={m} t={t} p={p}");
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_a_lower_priority() {
        let hasher = fast();
        let nice = hasher
            .run(|_| {
                rustix::process::getpriority_process(Some(rustix::thread::gettid()))
                    .map_err(|e| e.to_string().into())
            })
            .await
            .expect("ran");
        let ours = rustix::process::getpriority_process(None).expect("priority");
        assert_eq!(nice, (ours + HASHING_NICE).min(19));
    }

    #[test]
    fn tokens_are_256_bit_url_safe_and_hash_stably() {
        let token = RandomTokens.generate();
        assert_eq!(token.plain.len(), 43);
        assert!(token.plain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(RandomTokens.hash(&token.plain), token.hash);
        assert_ne!(RandomTokens.generate().plain, token.plain);
    }
}
