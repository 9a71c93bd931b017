//! The RFC 3161 client: a `TimeStampReq` for a SHA-256 (with a nonce and `certReq`), POSTed as
//! `application/timestamp-query` to each configured TSA in turn (three attempts each, 15 s
//! apiece), the answer checked by [`proof`](super::proof) before it is kept. Nothing secret is
//! sent: a TSA sees a hash and signs it.

use std::time::Duration;

use der::asn1::{Int, OctetString};
use der::{Any, AnyRef, Encode};
use x509_cert::Certificate;
use x509_cert::spki::AlgorithmIdentifier;
use x509_tsp::{MessageImprint, TimeStampReq, TspVersion};

use super::proof::{self, CheckedToken};

pub const ATTEMPTS: u32 = 3;
pub const TIMEOUT: Duration = Duration::from_secs(15);
const SHA256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// A token a TSA granted and [`proof::check_response`] accepted: the bytes to keep, and what
/// they prove.
#[derive(Debug, Clone)]
pub struct Token {
    pub der: Vec<u8>,
    pub checked: CheckedToken,
}

/// Every TSA failed; one line each, naming the TSA.
#[derive(Debug, Clone, PartialEq)]
pub struct TsaFailure {
    pub reasons: Vec<String>,
}

impl std::fmt::Display for TsaFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reasons.join("; "))
    }
}

/// The request's DER and its nonce.
pub fn request_der(digest: &[u8; 32]) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    // Eight random bytes, the first in 1..=0x7f: a positive INTEGER in its shortest form.
    let mut nonce: Vec<u8> = (0..8).map(|_| fastrand::u8(..)).collect();
    nonce[0] = fastrand::u8(1..=0x7f);
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier {
                oid: SHA256,
                parameters: Some(Any::from(AnyRef::NULL)),
            },
            hashed_message: OctetString::new(digest.to_vec())?,
        },
        req_policy: None,
        nonce: Some(Int::new(&nonce)?),
        cert_req: true,
        extensions: None,
    };
    Ok((req.to_der()?, nonce))
}

/// Asks each TSA in turn for a token over `digest`, until one gives a token that holds.
pub async fn request_token(
    urls: &[String],
    digest: &[u8; 32],
    cas: &[Certificate],
) -> Result<Token, TsaFailure> {
    let mut reasons = Vec::new();
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(crate::tool_id())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return Err(TsaFailure {
                reasons: vec![format!("cannot build an HTTP client ({e})")],
            });
        }
    };
    for url in urls {
        match ask(&client, url, digest, cas).await {
            Ok(token) => return Ok(token),
            Err(why) => reasons.push(format!("TSA {url}: {why}")),
        }
    }
    Err(TsaFailure { reasons })
}

async fn ask(
    client: &reqwest::Client,
    url: &str,
    digest: &[u8; 32],
    cas: &[Certificate],
) -> Result<Token, String> {
    let (body, nonce) =
        request_der(digest).map_err(|e| format!("cannot build the request ({e})"))?;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt - 1))).await;
        }
        let sent = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
            .body(body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                last = format!("unreachable after {attempt} attempts ({e})");
                continue;
            }
        };
        let status = response.status();
        if status.is_server_error() {
            last = format!("answered HTTP {status} {attempt} times");
            continue;
        }
        if !status.is_success() {
            return Err(format!("answered HTTP {status}"));
        }
        let bytes = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                last = format!("the answer was cut off ({e})");
                continue;
            }
        };
        return match proof::check_response(&bytes, digest, Some(&nonce), cas) {
            Ok(checked) => Ok(Token {
                der: bytes,
                checked,
            }),
            Err(e) => Err(format!("its answer was refused: {e}")),
        };
    }
    Err(last)
}
