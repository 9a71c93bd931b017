//! The archive: `report --archive <url>` (or `[archive] url`) uploads a written package, the zip
//! (which carries `SHA256SUMS.sig` when packages are signed) and its `<zip>.sha256`, to
//! Azure Blob Storage or S3 with create-only puts (`PutMode::Create`, `If-None-Match: *`). An
//! object already there with the same bytes is fine (a rerun); with other bytes the upload is
//! refused, naming it: an archived package is never overwritten, and the tool never deletes.
//!
//! The client and its credentials are `objects`'. A blob store keeps a put whole or not at all, so an interrupted
//! upload leaves nothing partial under the package's name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::config::ObjectUrl;
use crate::digest::sha256_hex;
use crate::objects::{StorageEnv, create_only, fail, object_path};

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Archived {
    /// Written now.
    Uploaded,
    /// Already there with the same bytes (an earlier run archived it).
    AlreadyThere,
}

/// One file of the package, archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedFile {
    /// `az://container/prefix/name` or `s3://...`.
    pub location: String,
    pub outcome: Archived,
}

/// The files `report` archives for a package: the zip, then its `.sha256` (the signature, when
/// there is one, is inside the zip). The zip goes first: a `.sha256` in the archive always has
/// its package there.
pub fn package_files(zip: &Path) -> Vec<PathBuf> {
    let mut sha256 = zip.as_os_str().to_owned();
    sha256.push(".sha256");
    vec![zip.to_path_buf(), PathBuf::from(sha256)]
}

/// Uploads `files` create-only under the URL's prefix, in order. Builds its own async runtime:
/// call it from synchronous code.
pub fn archive(url: &ObjectUrl, env: &StorageEnv, files: &[PathBuf]) -> Result<Vec<ArchivedFile>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for the archive")?;
    let store = crate::objects::open(url, env)?;
    runtime.block_on(async {
        let mut done = Vec::with_capacity(files.len());
        for file in files {
            done.push(archive_one(&*store, url, env, file).await?);
        }
        Ok(done)
    })
}

async fn archive_one(
    store: &dyn ObjectStore,
    url: &ObjectUrl,
    env: &StorageEnv,
    file: &Path,
) -> Result<ArchivedFile> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no file name to archive under", file.display()))?;
    let object = url.object_name(name);
    let location = format!("{url}/{name}");
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let ours = sha256_hex(&bytes);
    let path = object_path(&object)?;
    let options = create_only();
    let fail = |what: &str, e: object_store::Error| fail(what, &location, url, env, e);
    match store
        .put_opts(&path, PutPayload::from(bytes), options)
        .await
    {
        Ok(_) => Ok(ArchivedFile {
            location,
            outcome: Archived::Uploaded,
        }),
        Err(object_store::Error::AlreadyExists { .. }) => {
            let existing = store
                .get(&path)
                .await
                .map_err(|e| fail("cannot read the object already at", e))?
                .bytes()
                .await
                .map_err(|e| fail("cannot read the object already at", e))?;
            let theirs = sha256_hex(&existing);
            if theirs != ours {
                bail!(
                    "{location} already holds different bytes (sha256 {theirs}; this package's {name} has {ours}): an archived object is never overwritten. Keep the archived one; if this package is the one to keep, archive it under another prefix"
                );
            }
            Ok(ArchivedFile {
                location,
                outcome: Archived::AlreadyThere,
            })
        }
        Err(e) => Err(fail(crate::objects::UPLOAD, e)),
    }
}
