//! Tozalash's cryptography adapters: argon2id password hashing run off the
//! async executor with bounded concurrency, and opaque random tokens stored
//! only as SHA-256 hashes.

use std::sync::Arc;

use argon2::password_hash::{
    PasswordHash as Phc, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
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

/// Hashes and verifies passwords with argon2id off the async executor, on a
/// dedicated pool of `concurrency` threads: at most that many hashes run at
/// once (each takes 19 MiB and most of a core), so a flood of logins queues
/// instead of starving the rest of the server. A fixed set of threads (rather
/// than tokio's growing blocking pool) also bounds memory: each thread's
/// allocator arena keeps the 19 MiB it last used, so more threads would mean
/// more resident memory for nothing (measured: 874 MiB peak under a login flood
/// with the blocking pool).
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    pool: Arc<rayon::ThreadPool>,
    /// Verified against when an account does not exist, so that an unknown
    /// e-mail costs the same time as a wrong password.
    dummy: Arc<String>,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher").field("params", &self.params).finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    /// OWASP parameters, as many concurrent hashes as there are cores.
    pub fn new() -> Result<Self, BoxError> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let (m, t, p) = OWASP_PARAMS;
        Self::with_params(m, t, p, cores)
    }

    pub fn with_params(
        memory_kib: u32,
        passes: u32,
        lanes: u32,
        concurrency: usize,
    ) -> Result<Self, BoxError> {
        let params = Params::new(memory_kib, passes, lanes, None).map_err(|e| e.to_string())?;
        let dummy = hash_blocking(&params, &URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()))?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(concurrency.max(1))
            .thread_name(|i| format!("argon2-{i}"))
            .build()?;
        Ok(Self { params, pool: Arc::new(pool), dummy: Arc::new(dummy) })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Params) -> Result<T, BoxError> + Send + 'static,
    ) -> Result<T, BoxError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let params = self.params.clone();
        self.pool.spawn(move || {
            // The caller may have gone (a closed connection); nobody to tell then.
            let _ = done.send(work(params));
        });
        result.await.map_err(|_| "the password-hashing thread stopped")?
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, BoxError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| e.to_string())?;
    let hash = argon2(params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| e.to_string())?;
    Ok(hash.to_string())
}

fn verify_blocking(params: Params, password: &str, phc: &str) -> Result<bool, BoxError> {
    let parsed = Phc::new(phc).map_err(|e| e.to_string())?;
    // The stored hash carries its own parameters; `params` only picks the algorithm family.
    Ok(argon2(params).verify_password(password.as_bytes(), &parsed).is_ok())
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, BoxError> {
        let password = password.expose().to_owned();
        self.run(move |params| hash_blocking(&params, &password)).await.map(PasswordHash::from_phc)
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
        let matches = self.run(move |params| verify_blocking(params, &password, &phc)).await?;
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

    #[test]
    fn tokens_are_256_bit_url_safe_and_hash_stably() {
        let token = RandomTokens.generate();
        assert_eq!(token.plain.len(), 43);
        assert!(token.plain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(RandomTokens.hash(&token.plain), token.hash);
        assert_ne!(RandomTokens.generate().plain, token.plain);
    }
}
