//! RFC 3161 time-stamp tokens, checked: the answer is a granted `TimeStampResp`, its token a
//! CMS `SignedData` over a `TSTInfo` whose message imprint is the SHA-256 we asked about, signed
//! (through the signed attributes, RFC 5652 §5.4) by a certificate for time-stamping that chains
//! to the configured CA certificates, valid at the token's time. The DER types are RustCrypto's
//! (`x509-tsp`, `cms`, `x509-cert`); the signatures are checked with `ring`, already in the tree
//! for the certificate client assertion.

use chrono::{DateTime, Utc};
use cms::cert::CertificateChoices;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::ObjectIdentifier as Oid;
use der::{Decode, Encode};
use ring::signature;
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_tsp::{TimeStampResp, TstInfo};

const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
const RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
const EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
const TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");

/// What a checked token proves: the imprint existed no later than `time`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedToken {
    pub time: DateTime<Utc>,
    /// The TSA's certificate subject, for messages.
    pub signer: String,
}

/// Why a token does not prove what it should. `Display` is one clause for "token ...: {why}".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenError {
    #[error("it is not an RFC 3161 time-stamp response ({0})")]
    Malformed(String),
    #[error("the TSA did not grant it (status {0})")]
    NotGranted(u8),
    #[error("its message imprint is {found}, not the line's SHA-256 {expected}")]
    OtherDigest { expected: String, found: String },
    #[error("its nonce differs from the one asked for: it answers another request")]
    OtherNonce,
    #[error("its signature does not hold: {0}")]
    BadSignature(String),
    #[error("its signer does not chain to the CA certificates of [timestamping] ca_file: {0}")]
    Untrusted(String),
}

fn malformed(e: impl std::fmt::Display) -> TokenError {
    TokenError::Malformed(e.to_string())
}

/// The CA certificates of a PEM file (one or more `CERTIFICATE` blocks).
pub fn read_ca_pem(text: &str) -> Result<Vec<Certificate>, String> {
    let certs = Certificate::load_pem_chain(text.as_bytes()).map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("it holds no CERTIFICATE block".into());
    }
    Ok(certs)
}

/// Checks a DER `TimeStampResp` against the SHA-256 `digest` it must cover (and the nonce, for
/// a fresh answer), and its signature chain against `cas`.
pub fn check_response(
    der: &[u8],
    digest: &[u8; 32],
    nonce: Option<&[u8]>,
    cas: &[Certificate],
) -> Result<CheckedToken, TokenError> {
    let resp = TimeStampResp::from_der(der).map_err(malformed)?;
    let status = resp.status.status as u8;
    if status > 1 {
        return Err(TokenError::NotGranted(status));
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| malformed("a granted answer without a token"))?;
    if token.content_type != SIGNED_DATA {
        return Err(malformed("the token is not CMS SignedData"));
    }
    let signed: SignedData = token.content.decode_as().map_err(malformed)?;
    if signed.encap_content_info.econtent_type != TST_INFO {
        return Err(malformed("the signed content is not a TSTInfo"));
    }
    let content = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("the token carries no TSTInfo"))?;
    let tst_der = content.value();
    let tst = TstInfo::from_der(tst_der).map_err(malformed)?;
    let imprint = tst.message_imprint.hashed_message.as_bytes();
    if tst.message_imprint.hash_algorithm.oid != SHA256 || imprint != digest {
        return Err(TokenError::OtherDigest {
            expected: hex::encode(digest),
            found: hex::encode(imprint),
        });
    }
    if let Some(asked) = nonce
        && tst.nonce.as_ref().map(|n| n.as_bytes()) != Some(strip_zeros(asked))
    {
        return Err(TokenError::OtherNonce);
    }
    let secs = tst.gen_time.to_unix_duration().as_secs();
    let time = DateTime::<Utc>::from_timestamp(secs as i64, 0)
        .ok_or_else(|| malformed("its time is out of range"))?;

    let [signer_info] = signed.signer_infos.0.as_slice() else {
        return Err(malformed("the token must have exactly one signer"));
    };
    let certs: Vec<&Certificate> = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    let signer = find_signer(signer_info, &certs).ok_or_else(|| {
        TokenError::Untrusted(
            "the token does not carry its signer's certificate (ask with certReq)".into(),
        )
    })?;
    check_signer_info(signer_info, tst_der, signer)?;
    if !is_time_stamping(signer) {
        return Err(TokenError::Untrusted(format!(
            "{} is not a time-stamping certificate (extended key usage)",
            signer.tbs_certificate.subject
        )));
    }
    chain_to(signer, &certs, cas, secs)?;
    Ok(CheckedToken {
        time,
        signer: signer.tbs_certificate.subject.to_string(),
    })
}

/// The big-endian integer without its leading zero bytes, as DER keeps it (one zero before a
/// high bit).
fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let mut at = 0;
    while at + 1 < bytes.len() && bytes[at] == 0 && bytes[at + 1] < 0x80 {
        at += 1;
    }
    &bytes[at..]
}

fn find_signer<'c>(info: &SignerInfo, certs: &[&'c Certificate]) -> Option<&'c Certificate> {
    certs.iter().copied().find(|c| match &info.sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            c.tbs_certificate.issuer == id.issuer
                && c.tbs_certificate.serial_number == id.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            c.tbs_certificate.extensions.iter().flatten().any(|e| {
                e.extn_id.to_string() == "2.5.29.14"
                    && e.extn_value.as_bytes().ends_with(ski.0.as_bytes())
            })
        }
    })
}

/// The signed attributes: their content type is TSTInfo, their message digest the TSTInfo's,
/// and the signature over their DER (as a SET) holds under the signer's key.
fn check_signer_info(
    info: &SignerInfo,
    tst_der: &[u8],
    signer: &Certificate,
) -> Result<(), TokenError> {
    let attrs = info
        .signed_attrs
        .as_ref()
        .ok_or_else(|| TokenError::BadSignature("the token has no signed attributes".into()))?;
    let attr = |oid: Oid| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.get(0))
    };
    let content_type: Option<Oid> = attr(CONTENT_TYPE).and_then(|v| v.decode_as().ok());
    if content_type != Some(TST_INFO) {
        return Err(TokenError::BadSignature(
            "its signed content type is not TSTInfo".into(),
        ));
    }
    let digest_alg = info.digest_alg.oid;
    let computed = match digest_alg {
        SHA256 => Sha256::digest(tst_der).to_vec(),
        SHA384 => Sha384::digest(tst_der).to_vec(),
        SHA512 => Sha512::digest(tst_der).to_vec(),
        other => {
            return Err(TokenError::BadSignature(format!(
                "digest algorithm {other} is not supported"
            )));
        }
    };
    let stated: Option<der::asn1::OctetString> =
        attr(MESSAGE_DIGEST).and_then(|v| v.decode_as().ok());
    if stated.as_ref().map(|o| o.as_bytes()) != Some(computed.as_slice()) {
        return Err(TokenError::BadSignature(
            "the signed message digest is not the TSTInfo's: the token was altered".into(),
        ));
    }
    let signed_bytes = attrs.to_der().map_err(malformed)?;
    verify_signature(
        signer,
        &info.signature_algorithm.oid,
        Some(digest_alg),
        &signed_bytes,
        info.signature.as_bytes(),
    )
    .map_err(TokenError::BadSignature)
}

/// Checks `signature` over `message` with `key_holder`'s public key.
fn verify_signature(
    key_holder: &Certificate,
    algorithm: &Oid,
    digest: Option<Oid>,
    message: &[u8],
    signature_bytes: &[u8],
) -> Result<(), String> {
    let spki = &key_holder.tbs_certificate.subject_public_key_info;
    let key = spki.subject_public_key.raw_bytes();
    let curve: Option<Oid> = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as().ok());
    let scheme: &dyn signature::VerificationAlgorithm = match (
        *algorithm,
        digest,
        spki.algorithm.oid,
    ) {
        (SHA256_RSA, _, RSA) | (RSA, Some(SHA256), RSA) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (SHA384_RSA, _, RSA) | (RSA, Some(SHA384), RSA) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (SHA512_RSA, _, RSA) | (RSA, Some(SHA512), RSA) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (ECDSA_SHA256, _, EC_PUBLIC_KEY) if curve == Some(P256) => {
            &signature::ECDSA_P256_SHA256_ASN1
        }
        (ECDSA_SHA384, _, EC_PUBLIC_KEY) if curve == Some(P256) => {
            &signature::ECDSA_P256_SHA384_ASN1
        }
        (ECDSA_SHA256, _, EC_PUBLIC_KEY) if curve == Some(P384) => {
            &signature::ECDSA_P384_SHA256_ASN1
        }
        (ECDSA_SHA384, _, EC_PUBLIC_KEY) if curve == Some(P384) => {
            &signature::ECDSA_P384_SHA384_ASN1
        }
        (alg, _, key_alg) => {
            return Err(format!(
                "signature algorithm {alg} with a {key_alg} key is not supported (RSA PKCS#1 v1.5 or ECDSA P-256/P-384)"
            ));
        }
    };
    signature::UnparsedPublicKey::new(scheme, key)
        .verify(message, signature_bytes)
        .map_err(|_| {
            format!(
                "the signature by {} does not match",
                key_holder.tbs_certificate.subject
            )
        })
}

fn is_time_stamping(cert: &Certificate) -> bool {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == EXTENDED_KEY_USAGE)
        .any(|e| {
            x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
                .is_ok_and(|eku| eku.0.contains(&TIME_STAMPING))
        })
}

fn valid_at(cert: &Certificate, secs: u64) -> bool {
    let v = &cert.tbs_certificate.validity;
    v.not_before.to_unix_duration().as_secs() <= secs
        && secs <= v.not_after.to_unix_duration().as_secs()
}

/// Walks from the signer up through the token's certificates to one of `cas`, each link's
/// signature checked and each certificate valid at the token's time.
fn chain_to(
    signer: &Certificate,
    carried: &[&Certificate],
    cas: &[Certificate],
    secs: u64,
) -> Result<(), TokenError> {
    let mut current = signer;
    for _ in 0..8 {
        if !valid_at(current, secs) {
            return Err(TokenError::Untrusted(format!(
                "{} was not valid at the token's time",
                current.tbs_certificate.subject
            )));
        }
        if cas.iter().any(|ca| ca == current) {
            return Ok(());
        }
        let issued = |issuer: &Certificate| {
            issuer.tbs_certificate.subject == current.tbs_certificate.issuer
                && current
                    .tbs_certificate
                    .to_der()
                    .map_err(|e| e.to_string())
                    .and_then(|tbs| {
                        verify_signature(
                            issuer,
                            &current.signature_algorithm.oid,
                            None,
                            &tbs,
                            current.signature.raw_bytes(),
                        )
                    })
                    .is_ok()
        };
        if let Some(ca) = cas.iter().find(|ca| issued(ca)) {
            if !valid_at(ca, secs) {
                return Err(TokenError::Untrusted(format!(
                    "the CA {} was not valid at the token's time",
                    ca.tbs_certificate.subject
                )));
            }
            return Ok(());
        }
        match carried.iter().copied().find(|c| *c != current && issued(c)) {
            Some(next) => current = next,
            None => {
                return Err(TokenError::Untrusted(format!(
                    "no certificate of ca_file issued {}",
                    current.tbs_certificate.subject
                )));
            }
        }
    }
    Err(TokenError::Untrusted(
        "the certificate chain is too long".into(),
    ))
}
