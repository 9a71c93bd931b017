//! The retry policy shared by token requests and Graph GETs: which answers are worth repeating,
//! how long to wait before the next attempt (the server's `Retry-After`, else exponential back-off
//! with jitter), and the bound on attempts and on the time since the first attempt. Also the one
//! transport error that is not worth repeating: a host name that does not resolve.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Result;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// Retry and pacing settings. Tests shrink the delays; production keeps the defaults.
#[derive(Debug, Clone)]
pub struct NetworkPolicy {
    /// First back-off wait for a 429 without Retry-After, a 503/504 or a dropped connection;
    /// doubled on every retry, with jitter.
    pub base_delay: Duration,
    /// Longest single back-off wait.
    pub max_delay: Duration,
    /// Retries of one request before the source fails.
    pub max_retries: u32,
    /// Longest time one request may take across its retries, from its first attempt: the
    /// attempts (timeouts included) and the waits between them.
    pub max_wait: Duration,
    /// Time limit of one request, body included.
    pub request_timeout: Duration,
    /// Least time between two conditional access requests (Graph allows 1 request/s).
    pub conditional_access_interval: Duration,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy {
            base_delay: Duration::from_secs(3),
            max_delay: Duration::from_secs(180),
            max_retries: 10,
            max_wait: Duration::from_secs(15 * 60),
            request_timeout: Duration::from_secs(120),
            conditional_access_interval: Duration::from_secs(1),
        }
    }
}

/// Throttling (429) and the faults of a busy or failing service (500, 502, 503, 504) are
/// repeated, within the same bounds; any other answer is final. Graph's 500s are mostly
/// passing faults of one of its back ends.
pub(crate) fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::INTERNAL_SERVER_ERROR
        || status == StatusCode::BAD_GATEWAY
        || status == StatusCode::SERVICE_UNAVAILABLE
        || status == StatusCode::GATEWAY_TIMEOUT
}

/// What to do when a status went on failing.
pub(crate) fn advice(status: StatusCode) -> &'static str {
    if status == StatusCode::TOO_MANY_REQUESTS {
        "Graph is throttling this tenant or application; try again later, at a quieter hour"
    } else {
        "Microsoft Graph is failing on its side; try again later, and if it persists, give Microsoft support the request-id"
    }
}

/// A host name that does not resolve, from our resolver. Final, never repeated: the system
/// resolver has made its own attempts before it answers, and a name that does not exist will not
/// exist a minute later; repeating it would only hold a scheduled run for a quarter of an hour.
#[derive(Debug)]
pub(crate) struct Unresolvable {
    pub(crate) host: String,
    pub(crate) reason: String,
}

impl fmt::Display for Unresolvable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot resolve {} ({})", self.host, self.reason)
    }
}

impl std::error::Error for Unresolvable {}

/// When a request failed because a host name did not resolve: the error that ends the run,
/// naming the host and what to check (`what` names the setting the URL came from). The host may
/// be the proxy's.
pub(crate) fn unresolvable(
    e: &reqwest::Error,
    url: &reqwest::Url,
    what: &str,
) -> Option<anyhow::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(u) = s.downcast_ref::<Unresolvable>() {
            let fix = if url
                .host_str()
                .is_some_and(|h| h.eq_ignore_ascii_case(&u.host))
            {
                format!("check {what} and this machine's DNS")
            } else {
                "it is the proxy's host: check HTTPS_PROXY (or ALL_PROXY) and this machine's DNS"
                    .to_string()
            };
            return Some(anyhow::anyhow!("{u}: {fix}"));
        }
        source = s.source();
    }
    None
}

/// Exponential back-off with equal jitter: attempt 1 waits about `base`, doubling up to `max_delay`.
pub(crate) fn backoff_delay(policy: &NetworkPolicy, attempt: u32) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let full = exp.min(policy.max_delay);
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

/// `Retry-After: <seconds>`; the HTTP-date form is not used by Graph and falls back to back-off.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A transport error's kind, without its URL or any header. Every one is worth repeating.
pub(crate) fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the response".into()
    } else {
        "connection error".into()
    }
}

/// The outcome of one attempt.
pub(crate) enum Attempt<T, F> {
    /// A final answer.
    Done(T),
    /// A fault worth repeating, and the wait the server asked for.
    Retry {
        fault: F,
        retry_after: Option<Duration>,
    },
}

/// The bound was reached: the last fault, the attempts made and the time since the first.
pub(crate) struct GaveUp<F> {
    pub(crate) fault: F,
    pub(crate) attempts: u32,
    pub(crate) elapsed: Duration,
    /// The server's `Retry-After`, when waiting it out would pass `max_wait`.
    pub(crate) retry_after_beyond: Option<Duration>,
}

impl<F> GaveUp<F> {
    /// `after 5 attempts over 40s`, and, when the server asked for a wait beyond the budget,
    /// that wait and the budget.
    pub(crate) fn bound_text(&self, policy: &NetworkPolicy) -> String {
        let attempts = format!(
            "after {} {} over {}s",
            self.attempts,
            if self.attempts == 1 {
                "attempt"
            } else {
                "attempts"
            },
            self.elapsed.as_secs()
        );
        match self.retry_after_beyond {
            Some(wait) => format!(
                "{attempts}, with a Retry-After of {}s, beyond the {}s this tool waits for one request",
                wait.as_secs(),
                policy.max_wait.as_secs()
            ),
            None => attempts,
        }
    }
}

/// Runs `attempt` until it gives a final answer, waiting with `wait` (which may stop the loop
/// with an error) between attempts; `wait` is told the fault, the delay and how many attempts
/// failed so far, so the operator can see each retry as it happens. Gives up, with the error `give_up` makes, when one more
/// attempt would exceed `max_retries`, or when its wait would end after `max_wait` since the first
/// attempt (attempts that time out count, not only the waits between them).
pub(crate) async fn retry<T, F>(
    policy: &NetworkPolicy,
    mut attempt: impl AsyncFnMut() -> Result<Attempt<T, F>>,
    mut wait: impl AsyncFnMut(&F, Duration, u32) -> Result<()>,
    give_up: impl FnOnce(GaveUp<F>) -> anyhow::Error,
) -> Result<T> {
    let first_attempt = Instant::now();
    let mut attempts = 0u32;
    loop {
        let (fault, hint) = match attempt().await? {
            Attempt::Done(value) => return Ok(value),
            Attempt::Retry { fault, retry_after } => (fault, retry_after),
        };
        attempts += 1;
        let delay = hint.unwrap_or_else(|| backoff_delay(policy, attempts));
        let elapsed = first_attempt.elapsed();
        let beyond = elapsed + delay > policy.max_wait;
        if attempts > policy.max_retries || beyond {
            return Err(give_up(GaveUp {
                fault,
                attempts,
                elapsed,
                retry_after_beyond: hint.filter(|_| beyond && attempts <= policy.max_retries),
            }));
        }
        wait(&fault, delay, attempts).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_with_jitter_up_to_the_cap() {
        let policy = NetworkPolicy::default();
        for attempt in 1..=12 {
            let full = (policy.base_delay * 2u32.pow(attempt - 1)).min(policy.max_delay);
            let d = backoff_delay(&policy, attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn only_throttling_and_server_faults_are_transient() {
        for code in [429, 500, 502, 503, 504] {
            assert!(is_transient(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [200, 400, 401, 403, 404, 501] {
            assert!(!is_transient(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }

    fn policy(max_retries: u32, max_wait: Duration) -> NetworkPolicy {
        NetworkPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_retries,
            max_wait,
            ..NetworkPolicy::default()
        }
    }

    #[tokio::test]
    async fn the_loop_is_bounded_in_attempts_and_honours_the_hint() {
        let mut calls = 0u32;
        let mut waits = Vec::new();
        let err = retry(
            &policy(3, Duration::from_secs(10)),
            async || {
                calls += 1;
                Ok(Attempt::<(), _>::Retry {
                    fault: format!("fault {calls}"),
                    retry_after: Some(Duration::from_millis(1)),
                })
            },
            async |_, delay, _| {
                waits.push(delay);
                Ok(())
            },
            |g| anyhow::anyhow!("{} after {} attempts", g.fault, g.attempts),
        )
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "fault 4 after 4 attempts");
        assert_eq!(calls, 4);
        assert_eq!(waits, [Duration::from_millis(1); 3]);
    }

    #[tokio::test]
    async fn the_loop_gives_up_before_a_wait_past_the_time_bound() {
        let mut calls = 0u32;
        let err = retry(
            &policy(10, Duration::from_secs(5)),
            async || {
                calls += 1;
                Ok(Attempt::<(), _>::Retry {
                    fault: "HTTP 429",
                    retry_after: Some(Duration::from_secs(6)),
                })
            },
            async |_, _, _| panic!("no wait may start"),
            |g| {
                anyhow::anyhow!(
                    "{} {}",
                    g.fault,
                    g.bound_text(&policy(10, Duration::from_secs(5)))
                )
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "HTTP 429 after 1 attempt over 0s, with a Retry-After of 6s, beyond the 5s this tool waits for one request"
        );
        assert_eq!(calls, 1);
        let mut calls = 0u32;
        let done = retry(
            &policy(10, Duration::from_secs(5)),
            async || {
                calls += 1;
                Ok(if calls < 3 {
                    Attempt::Retry {
                        fault: "HTTP 503",
                        retry_after: None,
                    }
                } else {
                    Attempt::Done(calls)
                })
            },
            async |_, _, _| Ok(()),
            |_| unreachable!(),
        )
        .await
        .unwrap();
        assert_eq!(done, 3);
    }
}
