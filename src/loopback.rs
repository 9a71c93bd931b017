//! Whether a URL names this machine. Secrets (a Graph token, a webhook URL) travel only over
//! https, or over plain http to a loopback address: a local fake, tunnel or relay, where nothing
//! crosses a network. The collector and the alert channels apply the same rule.

use reqwest::Url;

/// `127.0.0.0/8`, `::1` or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_is_loopback() {
        for (url, expected) in [
            ("http://127.0.0.1:8080/x", true),
            ("http://127.8.9.10/", true),
            ("http://[::1]:3000/", true),
            ("http://LOCALHOST/", true),
            ("http://localhost.example.com/", false),
            ("http://10.0.0.1/", false),
            ("https://graph.microsoft.com/", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(url).unwrap()), expected, "{url}");
        }
    }
}
