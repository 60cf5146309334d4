//! The encryption key that seals secrets at rest: key files, key ids, and
//! the keyring the database is opened with.
//!
//! A key file holds 32 random bytes as 64 hex digits or as base64
//! (surrounding whitespace ignored). A key's id is derived from the key
//! (the first four bytes of a SHA-256 over a label and the key), so every
//! instance given the same file agrees on it without configuring ids, and
//! an id names no secret.
//!
//! Without `--encryption-key-file`, a SQLite database uses (or, on first
//! start, creates with mode 0600) the file `<database>.key` beside it and
//! says so; PostgreSQL deployments must name a file, because every instance
//! needs the same key.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::Digest as _;
use totp_engine::SealingKey;
use totp_engine_sqlx::{Backend, Keyring};
use zeroize::Zeroizing;

/// Reads a key file.
///
/// # Errors
///
/// A message naming the file and what is wrong with it (never its content).
pub fn read_key_file(path: &Path) -> Result<SealingKey, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("encryption key file {}: {e}", path.display()))?,
    );
    let text = text.trim();
    let mut key = Zeroizing::new([0u8; 32]);
    let decoded = if text.len() == 64 {
        hex::decode_to_slice(text, &mut key[..]).is_ok()
    } else {
        match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(bytes) if bytes.len() == 32 => {
                let bytes = Zeroizing::new(bytes);
                key.copy_from_slice(&bytes);
                true
            }
            _ => false,
        }
    };
    if !decoded {
        return Err(format!(
            "encryption key file {}: expected 32 bytes as 64 hex digits or base64",
            path.display()
        ));
    }
    warn_if_readable_by_others(path);
    Ok(SealingKey::new(key_id(&key), &key))
}

/// The id of a key: the first four bytes of SHA-256("mfa-server key id" ‖ key).
#[must_use]
pub fn key_id(key: &[u8; 32]) -> u32 {
    let digest = sha2::Sha256::new()
        .chain_update(b"mfa-server key id\0")
        .chain_update(key)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Writes a fresh random key to a new file `path` (mode 0600; refuses to
/// overwrite) and returns it.
///
/// # Errors
///
/// A message naming the file if it cannot be created.
pub fn generate_key_file(path: &Path) -> Result<SealingKey, String> {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::Rng::fill_bytes(&mut rand::rng(), &mut key[..]);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create encryption key file {}: {e}", path.display()))?;
    let text = Zeroizing::new(format!("{}\n", hex::encode(&key[..])));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write encryption key file {}: {e}", path.display()))?;
    Ok(SealingKey::new(key_id(&key), &key))
}

/// The key file a SQLite database uses by default: `<file>.key`.
#[must_use]
pub fn default_key_path(db_url: &str) -> Option<PathBuf> {
    if Backend::of_url(db_url).is_ok_and(|b| b == Backend::Postgres) {
        return None;
    }
    let path = db_url
        .strip_prefix("sqlite://")
        .or_else(|| db_url.strip_prefix("sqlite:"))
        .unwrap_or(db_url);
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(format!("{path}.key")))
}

/// The keyring for a database: the key from `key_file` (or the SQLite
/// default, created if missing), plus `previous` for opening secrets sealed
/// before a rotation. Returns a line to tell the operator, when a key was
/// generated.
///
/// # Errors
///
/// A message for an unreadable key file, or for PostgreSQL without one.
pub fn keyring(
    db_url: &str,
    key_file: Option<&Path>,
    previous: Option<&Path>,
) -> Result<(Keyring, Option<String>), String> {
    let (current, note) = match key_file {
        Some(path) => (read_key_file(path)?, None),
        None => {
            let Some(path) = default_key_path(db_url) else {
                return Err("PostgreSQL deployments must name the encryption key with \
                     --encryption-key-file (env MFA_SERVER_ENCRYPTION_KEY_FILE): every \
                     instance needs the same key. Make one with: \
                     head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > mfa.key"
                    .into());
            };
            if path.exists() {
                (read_key_file(&path)?, None)
            } else {
                let key = generate_key_file(&path)?;
                let note = format!(
                    "mfa-server: generated the encryption key {} (mode 0600). Back it up: \
                     without it the secrets in the database cannot be read.",
                    path.display()
                );
                (key, Some(note))
            }
        }
    };
    let mut ring = Keyring::new(current);
    if let Some(path) = previous {
        ring = ring.with_previous(read_key_file(path)?);
    }
    Ok((ring, note))
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "the encryption key file is readable by group or others; chmod 600 it"
            );
        }
    }
}
