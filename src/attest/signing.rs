//! SSH signatures (OpenSSH's `sshsig` format) over ledger lines and over a package's
//! `SHA256SUMS`, made with the operator's ed25519 key, so an auditor checks them with
//! `ssh-keygen -Y verify` and nothing else. RustCrypto's `ssh-key` reads the key files (the
//! encrypted OpenSSH format included) and writes and checks the signatures.

use std::path::Path;

use anyhow::{Context, Result, bail};
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

/// The namespace of the package signature (`ssh-keygen -Y verify -n mfa-evidence`).
pub const PACKAGE_NAMESPACE: &str = "mfa-evidence";
/// The namespace of a ledger line's signature: another one, so neither kind of signature can
/// stand for the other.
pub const LEDGER_NAMESPACE: &str = "mfa-evidence-ledger";
/// Where a key's passphrase comes from: never the config file, never the command line.
pub const PASSPHRASE_VAR: &str = "MFA_EVIDENCE_SIGNING_PASSPHRASE";

/// The operator's signing key, decrypted, ready to sign.
pub struct Signer {
    key: PrivateKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Reads an OpenSSH ed25519 private key, decrypting it with `passphrase` when it is
    /// encrypted. Every way this fails says what to do; none names the passphrase.
    pub fn load(path: &Path, passphrase: Option<&str>) -> Result<Signer> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the signing key {}: check [signing] key_file and its permissions",
                path.display()
            )
        })?;
        let key = PrivateKey::from_openssh(text.trim_start()).map_err(|e| {
            anyhow::anyhow!(
                "{} is not an OpenSSH private key ({e}): make one with ssh-keygen -t ed25519 -f {}",
                path.display(),
                path.display()
            )
        })?;
        if key.algorithm() != Algorithm::Ed25519 {
            bail!(
                "the signing key {} is an {} key: [signing] needs an ed25519 key (ssh-keygen -t ed25519)",
                path.display(),
                key.algorithm()
            );
        }
        let key = if key.is_encrypted() {
            let Some(passphrase) = passphrase.filter(|p| !p.is_empty()) else {
                bail!(
                    "the signing key {} is protected by a passphrase: set {PASSPHRASE_VAR}",
                    path.display()
                );
            };
            key.decrypt(passphrase).map_err(|_| {
                anyhow::anyhow!(
                    "cannot decrypt the signing key {}: the passphrase in {PASSPHRASE_VAR} is wrong",
                    path.display()
                )
            })?
        } else {
            key
        };
        Ok(Signer { key })
    }

    /// Reads the key of `[signing]`, its passphrase from the environment.
    pub fn from_settings(settings: &crate::config::SigningSettings) -> Result<Signer> {
        let passphrase = std::env::var(PASSPHRASE_VAR).ok();
        Signer::load(&settings.key_file, passphrase.as_deref())
    }

    pub fn public_key(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// `SHA256:...`, as `ssh-keygen -lf` prints it.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.public_key())
    }

    /// The public key as one `signing-key.pub` line (`ssh-ed25519 AAAA... comment`).
    pub fn public_openssh(&self) -> Result<String> {
        Ok(format!("{}\n", self.public_key().to_openssh()?))
    }

    /// An armored `sshsig` signature over `msg` (what `ssh-keygen -Y sign -n NAMESPACE` writes).
    pub fn sign_armored(&self, namespace: &str, msg: &[u8]) -> Result<String> {
        let sig = self
            .key
            .sign(namespace, HashAlg::Sha512, msg)
            .context("cannot sign")?;
        Ok(sig.to_pem(LineEnding::LF)?)
    }

    /// A ledger line's signature: the armored signature's base64 body on one line, so the
    /// ledger stays one JSON object per line.
    pub fn sign_line(&self, line: &[u8]) -> Result<String> {
        Ok(compact(&self.sign_armored(LEDGER_NAMESPACE, line)?))
    }
}

/// `SHA256:...` of a public key.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";

/// The base64 body of an armored signature, on one line.
fn compact(armored: &str) -> String {
    armored
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect()
}

/// A one-line ledger signature back in armor, 70 columns as OpenSSH writes it.
pub fn armor(compact: &str) -> String {
    let mut out = format!("{BEGIN}\n");
    for chunk in compact.as_bytes().chunks(70) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// Checks an armored signature over `msg` in `namespace`; returns the key that made it. The
/// caller decides whether that key is the one it trusts.
pub fn verify_armored(armored: &str, namespace: &str, msg: &[u8]) -> Result<PublicKey, String> {
    let sig = SshSig::from_pem(armored.trim())
        .map_err(|e| format!("it is not an SSH signature ({e})"))?;
    if sig.namespace() != namespace {
        return Err(format!(
            "it was made for namespace {:?}, not {namespace:?}",
            sig.namespace()
        ));
    }
    let key = PublicKey::from(sig.public_key().clone());
    key.verify(namespace, msg, &sig)
        .map_err(|_| "the signature does not match the signed bytes".to_string())?;
    Ok(key)
}

/// Checks a ledger line's one-line signature over the line's bytes without it.
pub fn verify_line(compact: &str, unsigned_line: &[u8]) -> Result<PublicKey, String> {
    verify_armored(&armor(compact), LEDGER_NAMESPACE, unsigned_line)
}

/// One principal of an OpenSSH `allowed_signers` file.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedSigner {
    pub principals: String,
    pub key: PublicKey,
    /// Limited to other namespaces by a `namespaces="..."` option.
    pub namespaces: Option<Vec<String>>,
}

/// Reads an `allowed_signers` file (ssh-keygen(1), ALLOWED SIGNERS): `principals [options]
/// keytype base64 [comment]`, `#` comments. Options other than `namespaces` are kept out of the
/// decision: a line with `cert-authority` names a CA, which a package key never is.
pub fn read_allowed_signers(path: &Path) -> Result<Vec<AllowedSigner>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the allowed signers file {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        // The key type is the first field after the principals that names an algorithm.
        let at = fields
            .iter()
            .skip(1)
            .position(|f| f.starts_with("ssh-") || f.starts_with("ecdsa-") || f.starts_with("sk-"))
            .map(|p| p + 1);
        let Some(at) = at.filter(|&at| at + 1 < fields.len()) else {
            bail!(
                "{} line {}: expected `principals [options] key-type base64-key`, as ssh-keygen's ALLOWED SIGNERS describes",
                path.display(),
                i + 1
            );
        };
        let key = PublicKey::from_openssh(&format!("{} {}", fields[at], fields[at + 1]))
            .with_context(|| {
                format!("{} line {}: the key cannot be read", path.display(), i + 1)
            })?;
        let options = fields[1..at].join(" ");
        if options.contains("cert-authority") {
            continue;
        }
        let namespaces = options
            .split(',')
            .find_map(|o| o.trim().strip_prefix("namespaces="))
            .map(|v| v.trim_matches('"').split(',').map(str::to_string).collect());
        out.push(AllowedSigner {
            principals: fields[0].to_string(),
            key,
            namespaces,
        });
    }
    Ok(out)
}

/// The principals an allowed-signers list gives `key` for `namespace`, if any.
pub fn allowed_principals(
    signers: &[AllowedSigner],
    key: &PublicKey,
    namespace: &str,
) -> Option<String> {
    signers
        .iter()
        .find(|s| {
            s.key.key_data() == key.key_data()
                && s.namespaces
                    .as_ref()
                    .is_none_or(|n| n.iter().any(|n| n == namespace))
        })
        .map(|s| s.principals.clone())
}
