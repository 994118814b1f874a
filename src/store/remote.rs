//! A container on Azure Blob Storage or a bucket on S3 (and a prefix in it), opened from a URL
//! through `object_store`.
//!
//! Why: flow logs and lakes live in storage accounts, and users name them the way their tools
//! do (`az://`, `abfss://`, `https://<account>.blob.core.windows.net/...?<SAS>`, `s3://`).
//! Credentials, endpoints and the emulator switch come from `object_store`'s environment
//! variables (`AZURE_STORAGE_*`, `AWS_*`), plus a SAS token in the URL's query,
//! `AZURE_STORAGE_CONNECTION_STRING` and AWS named profiles. Transient failures (timeouts,
//! 429, 5xx, resets) are retried with exponential backoff by `object_store`'s retry layer. No
//! secret is ever part of a name or a message: URLs are kept without their query and error
//! texts pass through [`redact`].

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::path::Path;
use object_store::{BackoffConfig, ObjectStore, ObjectStoreExt, ObjectStoreScheme, RetryConfig};

use super::redact;
use crate::error::{Error, Result};

/// How remote requests are retried: `object_store`'s exponential backoff (100 ms doubling up
/// to 15 s) on timeouts, resets, 429 and 5xx answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Retries of one request before it fails.
    pub max_retries: usize,
    /// Time from a request's first attempt after which it is not retried any more.
    pub retry_timeout: Duration,
}

impl Default for StoreOptions {
    /// 10 retries within 3 minutes.
    fn default() -> Self {
        StoreOptions {
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
        }
    }
}

impl StoreOptions {
    fn retry(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }
}

/// A container or bucket, and the prefix inside it, opened from a URL.
pub struct Remote {
    name: String,
    key_base: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.name)
    }
}

fn store_error(name: &str, e: impl std::fmt::Display) -> Error {
    Error::Source {
        name: name.to_string(),
        message: redact(&e.to_string()),
    }
}

/// Fields of an Azure connection string (`AccountName=...;AccountKey=...;...`).
fn connection_string(cs: &str) -> Vec<(AzureConfigKey, String)> {
    let mut out = Vec::new();
    for part in cs.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let key = match k.trim().to_ascii_lowercase().as_str() {
            "accountname" => AzureConfigKey::AccountName,
            "accountkey" => AzureConfigKey::AccessKey,
            "sharedaccesssignature" => AzureConfigKey::SasKey,
            "blobendpoint" => AzureConfigKey::Endpoint,
            "usedevelopmentstorage" if v.eq_ignore_ascii_case("true") => {
                AzureConfigKey::UseEmulator
            }
            _ => continue,
        };
        out.push((key, v.trim().to_string()));
    }
    out
}

impl Remote {
    /// Opens the store a URL names: `az://<container>/<prefix>`, `abfss://<container>@
    /// <account>.dfs.core.windows.net/<prefix>`, `https://<account>.blob.core.windows.net/
    /// <container>/<prefix>[?<SAS token>]`, `s3://<bucket>/<prefix>`.
    pub fn open(url: &str, opts: &StoreOptions) -> Result<Remote> {
        let (bare, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let name = bare.trim_end_matches('/').to_string();
        let bad = |m: String| Error::Source {
            name: name.clone(),
            message: m,
        };
        let parsed = url::Url::parse(bare).map_err(|e| bad(format!("not a URL: {e}")))?;
        let (scheme, prefix) = ObjectStoreScheme::parse(&parsed)
            .map_err(|e| bad(format!("not a storage URL: {}", redact(&e.to_string()))))?;
        let host = parsed.host_str().unwrap_or_default().to_string();
        match scheme {
            ObjectStoreScheme::MicrosoftAzure => {
                let mut b = MicrosoftAzureBuilder::from_env()
                    .with_url(bare)
                    .with_retry(opts.retry());
                if let Ok(cs) = std::env::var("AZURE_STORAGE_CONNECTION_STRING") {
                    for (k, v) in connection_string(&cs) {
                        b = b.with_config(k, v);
                    }
                }
                if let Some(sas) = query.filter(|q| !q.is_empty()) {
                    b = b.with_config(AzureConfigKey::SasKey, sas);
                }
                // account and container: from the URL when it names them, else the settings
                let (account, container) = match parsed.scheme() {
                    "https" => (
                        host.split('.').next().map(str::to_string),
                        parsed
                            .path_segments()
                            .and_then(|mut s| s.next())
                            .map(str::to_string),
                    ),
                    _ if !parsed.username().is_empty() => (
                        host.split('.').next().map(str::to_string),
                        Some(parsed.username().to_string()),
                    ),
                    _ => (None, Some(host.clone())),
                };
                let emulator = b
                    .get_config_value(&AzureConfigKey::UseEmulator)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
                let account = account
                    .or_else(|| b.get_config_value(&AzureConfigKey::AccountName))
                    .or_else(|| emulator.then(|| "devstoreaccount1".to_string()))
                    .ok_or_else(|| {
                        bad("no storage account: set AZURE_STORAGE_ACCOUNT_NAME, or use https://<account>.blob.core.windows.net/<container>".into())
                    })?;
                let container = container
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| bad("the URL names no container".into()))?;
                let store = b.build().map_err(|e| bad(redact(&e.to_string())))?;
                Ok(Remote {
                    key_base: format!("https://{account}.blob.core.windows.net/{container}"),
                    name,
                    store: Arc::new(store),
                    prefix,
                })
            }
            ObjectStoreScheme::AmazonS3 => {
                let store = super::aws_profile::apply(AmazonS3Builder::from_env())
                    .map_err(bad)?
                    .with_url(bare)
                    .with_retry(opts.retry())
                    .build()
                    .map_err(|e| bad(redact(&e.to_string())))?;
                // s3://<bucket>, https://s3.<region>.amazonaws.com/<bucket> (path style) or
                // https://<bucket>.s3.<region>.amazonaws.com (virtual-hosted style)
                let bucket = match parsed.scheme() {
                    "https" if host.starts_with("s3") => parsed
                        .path_segments()
                        .and_then(|mut s| s.next())
                        .unwrap_or_default()
                        .to_string(),
                    "https" => host.split(".s3").next().unwrap_or_default().to_string(),
                    _ => host,
                };
                Ok(Remote {
                    key_base: format!("s3://{bucket}"),
                    name,
                    store: Arc::new(store),
                    prefix,
                })
            }
            _ => Err(bad(
                "only Azure Blob Storage and S3 URLs are supported".into()
            )),
        }
    }

    /// The URL as given, without its query (which may hold a SAS token).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The object store and the prefix this URL names inside it.
    pub fn store(&self) -> (Arc<dyn ObjectStore>, &Path) {
        (self.store.clone(), &self.prefix)
    }

    /// The prefix this URL names inside the store (empty for a whole container or bucket).
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The whole object at `rel` (relative to the prefix).
    pub async fn get(&self, rel: &str) -> Result<Vec<u8>> {
        let path = self.path(rel);
        let get = async { self.store.get(&path).await?.bytes().await };
        get.await.map(|b| b.to_vec()).map_err(|e| self.error(e))
    }

    /// The store path of `rel` (relative to the prefix).
    pub fn path(&self, rel: &str) -> Path {
        self.prefix.parts().chain(Path::from(rel).parts()).collect()
    }

    /// A store error about this remote, as [`Error::Source`] with secrets redacted.
    pub fn error(&self, e: impl std::fmt::Display) -> Error {
        store_error(&self.name, e)
    }

    /// The start of the keys of every object under the prefix (see `source::BlobRef::key`), with a
    /// trailing `/`.
    pub fn key_prefix(&self) -> String {
        let sep = if self.prefix.as_ref().is_empty() {
            ""
        } else {
            "/"
        };
        format!("{}/{}{sep}", self.key_base, self.prefix)
    }

    /// The stable key of an object: `https://<account>.blob.core.windows.net/<container>/
    /// <path>` or `s3://<bucket>/<path>`.
    pub fn key(&self, path: &Path) -> String {
        format!("{}/{}", self.key_base, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_give_account_key_and_endpoint() {
        let f = connection_string(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
        );
        assert_eq!(f.len(), 3);
        assert!(f.contains(&(AzureConfigKey::AccessKey, "k==".into())));
    }

    #[test]
    fn a_sas_token_never_becomes_part_of_the_name() {
        let r = Remote::open(
            "https://acct.blob.core.windows.net/logs/prefix?sv=2022-11-02&sig=SECRET",
            &StoreOptions::default(),
        )
        .unwrap();
        assert_eq!(r.name(), "https://acct.blob.core.windows.net/logs/prefix");
        assert_eq!(r.prefix().as_ref(), "prefix");
        assert_eq!(
            r.key(&Path::from("a/b.json")),
            "https://acct.blob.core.windows.net/logs/a/b.json"
        );
        assert!(!format!("{r:?}").contains("SECRET"));
    }
}
