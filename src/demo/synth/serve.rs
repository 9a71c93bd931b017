//! Graph requests answered from a folder in the import layout, as Graph answered them: the
//! request path names the source, `$skiptoken` the page, and each page is sent as its file holds
//! it but for `@odata.nextLink`, which is pointed at the caller's server.
//!
//! No HTTP here, so nothing of a server reaches the library: the tests' fake Graph and the
//! collection benchmark (`examples/collect_bench.rs`) wrap this in their own loopback server,
//! over tenants that `synth` wrote. Their `$skiptoken`s are page numbers: the folder's own
//! tokens name pages of Microsoft's host, which the collector refuses to follow anyway.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::graph::{Source, page_file};

/// An import-layout folder that answers Graph requests.
#[derive(Debug, Clone)]
pub struct FolderGraph {
    dir: PathBuf,
}

/// One stored page of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPage {
    pub body: Vec<u8>,
    /// Whether a page follows (the file carries an `@odata.nextLink`).
    pub has_next: bool,
}

impl FolderGraph {
    pub fn new(dir: impl Into<PathBuf>) -> FolderGraph {
        FolderGraph { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The source a request path (`/v1.0/users`, no query) asks for, by the collector's own
    /// endpoints; the break-glass group's id may be any.
    pub fn source_of(path: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|source| {
            let endpoint = source.info().path;
            match endpoint.split_once(crate::source::GROUP_ID) {
                Some((head, tail)) => {
                    path.len() > head.len() + tail.len()
                        && path.starts_with(head)
                        && path.ends_with(tail)
                }
                None => path == endpoint,
            }
        })
    }

    /// Page `n` (from 1) of `source`, or `None` when the folder has no such page.
    pub fn page(&self, source: Source, n: u64) -> Result<Option<StoredPage>> {
        if n == 0 {
            return Ok(None);
        }
        let path = self.dir.join(page_file(source, n));
        let body = match std::fs::read(&path) {
            Ok(body) => body,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let has_next = next_link_span(&body)?.is_some();
        Ok(Some(StoredPage { body, has_next }))
    }

    /// The answer to `GET path?query` on a server at `base` (`http://127.0.0.1:port`): the page
    /// `$skiptoken` names (the first without one), linked to the next page on `base`. `None`
    /// when the path is no source or the folder has no such page.
    pub fn answer(&self, base: &str, path: &str, query: &str) -> Result<Option<Vec<u8>>> {
        let Some(source) = FolderGraph::source_of(path) else {
            return Ok(None);
        };
        let n = match query_param(query, "$skiptoken") {
            Some(token) => match token.parse::<u64>() {
                Ok(n) => n,
                Err(_) => return Ok(None),
            },
            None => 1,
        };
        let Some(page) = self.page(source, n)? else {
            return Ok(None);
        };
        if !page.has_next {
            return Ok(Some(page.body));
        }
        let link = next_link(base, path, query, n + 1);
        with_next_link(&page.body, Some(&link)).map(Some)
    }
}

/// The value of a query parameter, as sent (not percent-decoded).
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `base` + `path` + the request's query with `$skiptoken` set to `token`, as Graph keeps a
/// request's `$select`, `$filter` and `$top` in its links.
pub fn next_link(base: &str, path: &str, query: &str, token: impl std::fmt::Display) -> String {
    let mut kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("$skiptoken="))
        .collect();
    let token = format!("$skiptoken={token}");
    kept.push(&token);
    format!("{base}{path}?{}", kept.join("&"))
}

const NEXT_LINK_KEY: &[u8] = br#""@odata.nextLink":"#;

/// Where the value of the page's `@odata.nextLink` (a JSON string) starts and ends. The key
/// with its quotes cannot occur inside a string value, where quotes are escaped.
fn next_link_span(body: &[u8]) -> Result<Option<(usize, usize)>> {
    let Some(key) = body
        .windows(NEXT_LINK_KEY.len())
        .position(|w| w == NEXT_LINK_KEY)
    else {
        return Ok(None);
    };
    let start = key + NEXT_LINK_KEY.len();
    let mut strings = serde_json::Deserializer::from_slice(&body[start..]).into_iter::<String>();
    match strings.next() {
        Some(Ok(_)) => Ok(Some((start, start + strings.byte_offset()))),
        _ => bail!("the page's @odata.nextLink is not a string"),
    }
}

/// `body` with its `@odata.nextLink` set to `link`, or removed for `None`. Replacing a link is
/// a splice, so a large page costs a scan rather than a parse; adding or removing one goes
/// through `serde_json::Value`, which keeps the other keys in their order.
pub fn with_next_link(body: &[u8], link: Option<&str>) -> Result<Vec<u8>> {
    if let (Some(link), Some((start, end))) = (link, next_link_span(body)?) {
        let mut out = Vec::with_capacity(body.len() + link.len());
        out.extend_from_slice(&body[..start]);
        serde_json::to_writer(&mut out, link)?;
        out.extend_from_slice(&body[end..]);
        return Ok(out);
    }
    let mut page: serde_json::Value =
        serde_json::from_slice(body).context("the page is not JSON")?;
    let Some(object) = page.as_object_mut() else {
        bail!("the page is not a JSON object");
    };
    match link {
        Some(link) => {
            // After the context, where Graph writes it.
            let mut rebuilt = serde_json::Map::new();
            for (key, value) in std::mem::take(object) {
                let after_context = key == "@odata.context";
                rebuilt.insert(key, value);
                if after_context {
                    rebuilt.insert("@odata.nextLink".to_string(), link.into());
                }
            }
            if !rebuilt.contains_key("@odata.nextLink") {
                rebuilt.insert("@odata.nextLink".to_string(), link.into());
            }
            *object = rebuilt;
        }
        None => {
            object.shift_remove("@odata.nextLink");
        }
    }
    Ok(serde_json::to_vec(&page)?)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::{FolderGraph, next_link, query_param, with_next_link};
    use crate::demo::synth::graph::{Source, page_file};
    use crate::demo::synth::{TenantSpec, write_tenant};

    #[test]
    fn request_paths_name_their_source() {
        assert_eq!(FolderGraph::source_of("/v1.0/users"), Some(Source::Users));
        assert_eq!(
            FolderGraph::source_of("/v1.0/groups/aaaa-bbbb/transitiveMembers/microsoft.graph.user"),
            Some(Source::BreakGlass)
        );
        assert_eq!(
            FolderGraph::source_of("/v1.0/groups//transitiveMembers/microsoft.graph.user"),
            None
        );
        assert_eq!(FolderGraph::source_of("/v1.0/users/x"), None);
        assert_eq!(FolderGraph::source_of("/v1.0/users/"), None);
    }

    #[test]
    fn links_keep_the_query_and_replace_the_token() {
        assert_eq!(
            next_link("http://h", "/v1.0/users", "$top=999&$skiptoken=1", 2),
            "http://h/v1.0/users?$top=999&$skiptoken=2"
        );
        assert_eq!(
            next_link("http://h", "/v1.0/x", "", 2),
            "http://h/v1.0/x?$skiptoken=2"
        );
    }

    #[test]
    fn next_links_are_replaced_added_and_removed() {
        // A value that spells the key, with its quotes escaped, is not the key.
        let linked = br#"{"@odata.context":"\"@odata.nextLink\":\"x","@odata.nextLink":"https://a/?q=\"1","value":[]}"#;
        assert_eq!(
            with_next_link(linked, Some("http://b")).unwrap(),
            br#"{"@odata.context":"\"@odata.nextLink\":\"x","@odata.nextLink":"http://b","value":[]}"#
        );
        assert_eq!(
            with_next_link(linked, None).unwrap(),
            br#"{"@odata.context":"\"@odata.nextLink\":\"x","value":[]}"#
        );
        let last = br#"{"@odata.context":"c","value":[]}"#;
        assert_eq!(
            with_next_link(last, Some("http://b")).unwrap(),
            br#"{"@odata.context":"c","@odata.nextLink":"http://b","value":[]}"#
        );
    }

    #[test]
    fn a_generated_tenant_is_served_page_by_page_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 10, 31, 6, 0, 0).unwrap();
        let mut spec = TenantSpec::new(40, 3, at);
        spec.users_per_page = 6;
        let summary = write_tenant(&spec, dir.path()).unwrap();
        let folder = FolderGraph::new(dir.path());
        let base = "http://127.0.0.1:1";
        let path = "/v1.0/users";
        let mut query = "$select=id,userPrincipalName&$top=999".to_string();
        let mut served = Vec::new();
        // Bounded: one more request than the folder has pages.
        for _ in 0..=7 {
            let body = folder.answer(base, path, &query).unwrap().expect("a page");
            let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
            served.push(body.clone());
            let Some(link) = page["@odata.nextLink"].as_str() else {
                break;
            };
            let (head, rest) = link.split_once('?').unwrap();
            assert_eq!(head, format!("{base}{path}"));
            assert!(
                rest.starts_with("$select=id,userPrincipalName&$top=999&"),
                "{rest}"
            );
            query = rest.to_string();
        }
        let users = summary.pages.iter().find(|p| p.0 == "users").unwrap();
        assert_eq!((served.len() as u64, users.1), (7, 7), "40 users, 6 a page");
        for (n, body) in served.iter().enumerate() {
            let file =
                std::fs::read(dir.path().join(page_file(Source::Users, n as u64 + 1))).unwrap();
            let mut stored: serde_json::Value = serde_json::from_slice(&file).unwrap();
            let mut sent: serde_json::Value = serde_json::from_slice(body).unwrap();
            let last = n + 1 == served.len();
            assert_eq!(stored.get("@odata.nextLink").is_none(), last);
            stored
                .as_object_mut()
                .unwrap()
                .shift_remove("@odata.nextLink");
            sent.as_object_mut()
                .unwrap()
                .shift_remove("@odata.nextLink");
            assert_eq!(stored, sent, "page {}", n + 1);
        }
        assert_eq!(query_param(&query, "$skiptoken"), Some("7"));
        assert!(folder.answer(base, path, "$skiptoken=8").unwrap().is_none());
        assert!(folder.answer(base, "/v1.0/nothing", "").unwrap().is_none());
        let org = folder
            .answer(base, "/v1.0/organization", "")
            .unwrap()
            .unwrap();
        assert_eq!(
            org,
            std::fs::read(dir.path().join(page_file(Source::Organization, 1))).unwrap()
        );
    }
}
