//! Blobs in a container on Azure Blob Storage or a bucket on S3, through `object_store`.
//!
//! Why: flow logs live in a storage account. A nightly job must get only what is new without
//! listing or downloading a year of blobs, so the listing visits only the `y=/m=/d=/h=`
//! prefixes of the requested hours (in parallel), and a blob that grew since the last run is
//! read from just before its checkpoint (range reads). Credentials, endpoints and the
//! emulator switch come from `object_store`'s environment variables (`AZURE_STORAGE_*`,
//! `AWS_*`), plus a SAS token in the URL's query and `AZURE_STORAGE_CONNECTION_STRING`.
//! Transient failures (timeouts, 429, 5xx, resets) are retried with exponential backoff by
//! `object_store`'s retry layer. No secret is ever part of a name or a message: URLs are kept
//! without their query and error texts pass through [`redact`].

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use object_store::aws::AmazonS3Builder;
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ObjectMeta, ObjectStore, ObjectStoreExt, ObjectStoreScheme, RetryConfig,
};

use super::{BlobRef, Checkpoint, HEAD, HourWindow, Location, Read, TAIL, hour_of};
use crate::error::{Error, Result};

/// Listing requests in flight at once.
const PARALLEL_LISTS: usize = 16;
/// How deep the listing looks for the `y=` level below the given prefix.
const MAX_DEPTH: usize = 24;

/// What listing cost: calls to the store's list operations and objects they returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListStats {
    /// List calls (each is one request, or more for more than 5,000 objects).
    pub requests: u64,
    /// Objects returned.
    pub objects: u64,
}

/// How remote requests are retried: `object_store`'s exponential backoff (100 ms doubling up
/// to 15 s) on timeouts, resets, 429 and 5xx answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteOptions {
    /// Retries of one request before it fails.
    pub max_retries: usize,
    /// Time from a request's first attempt after which it is not retried any more.
    pub retry_timeout: Duration,
}

impl Default for RemoteOptions {
    /// 10 retries within 3 minutes.
    fn default() -> Self {
        RemoteOptions {
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
        }
    }
}

impl RemoteOptions {
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

/// Whether `s` is a URL of a store flowlake reads (rather than a local path).
pub fn is_remote(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    match scheme.to_ascii_lowercase().as_str() {
        "az" | "abfs" | "abfss" | "adl" | "azure" | "s3" | "s3a" => true,
        "https" => [
            ".blob.core.windows.net",
            ".dfs.core.windows.net",
            ".amazonaws.com",
        ]
        .iter()
        .any(|d| host.ends_with(d)),
        _ => false,
    }
}

/// The shared runtime that drives remote I/O for the (synchronous) ingest workers and the
/// writer of a remote lake.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("flowlake-io")
            .enable_all()
            .build()
            .expect("cannot start the I/O runtime")
    })
}

/// Replaces the values of secret-bearing URL parameters and connection-string fields in an
/// error text (`sig=`, `X-Amz-Signature=`, `AccountKey=`, ...) with `REDACTED`.
pub fn redact(text: &str) -> String {
    const KEYS: [&str; 8] = [
        "sig=",
        "x-amz-signature=",
        "x-amz-credential=",
        "x-amz-security-token=",
        "accountkey=",
        "sharedaccesssignature=",
        "skoid=",
        "sktid=",
    ];
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hit = KEYS.iter().find(|k| {
            lower[i..].starts_with(*k)
                && (i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric())
        });
        match hit {
            Some(k) => {
                out.push_str(&text[i..i + k.len()]);
                out.push_str("REDACTED");
                i += k.len();
                while i < text.len()
                    && !matches!(
                        text.as_bytes()[i],
                        b'&' | b';' | b' ' | b')' | b'"' | b'\'' | b'\n'
                    )
                {
                    i += 1;
                }
            }
            None => {
                let c = text[i..].chars().next().expect("in bounds");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
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
    pub fn open(url: &str, opts: &RemoteOptions) -> Result<Remote> {
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

    /// The start of the keys of every object under the prefix (see [`BlobRef::key`]), with a
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
    fn key(&self, path: &Path) -> String {
        format!("{}/{}", self.key_base, path)
    }

    fn blob(self: &Arc<Self>, m: ObjectMeta) -> BlobRef {
        let key = self.key(&m.location);
        BlobRef {
            hour: hour_of(m.location.as_ref()),
            key,
            size: m.size,
            mtime_ns: m.last_modified.timestamp_nanos_opt(),
            etag: m.e_tag,
            loc: Location::Object(self.clone(), m.location),
        }
    }

    /// Reads an object (see [`super::read`]).
    pub(super) fn read(
        &self,
        path: &Path,
        size: u64,
        buf: &mut Vec<u8>,
        max: u64,
        at: Option<Checkpoint<'_>>,
    ) -> std::result::Result<Read, String> {
        if size > max {
            return Ok(Read::TooLarge(size));
        }
        runtime()
            .block_on(async {
                if let Some(cp) = at.filter(|c| c.consumed > 0 && c.consumed <= size) {
                    let start = cp.consumed.saturating_sub(TAIL);
                    let head = HEAD.min(start);
                    if let Ok(parts) = self.store.get_ranges(path, &[0..head, start..size]).await {
                        let (h, rest) = (&parts[0], &parts[1]);
                        let before = (cp.consumed - start) as usize;
                        let same = rest.len() as u64 == size - start
                            && h.len() as u64 == head
                            && super::tail_hash(&rest[..before], before) == cp.tail_hash;
                        if same {
                            buf.extend_from_slice(h);
                            buf.resize(start as usize, b' ');
                            buf.extend_from_slice(rest);
                            return Ok(Read::Resumed {
                                fetched: head + rest.len() as u64,
                            });
                        }
                    }
                }
                let got = self
                    .store
                    .get(path)
                    .await
                    .map_err(|e| redact(&e.to_string()))?;
                if got.meta.size > max {
                    return Ok(Read::TooLarge(got.meta.size));
                }
                let bytes = got.bytes().await.map_err(|e| redact(&e.to_string()))?;
                buf.extend_from_slice(&bytes);
                Ok(Read::Whole)
            })
            .map_err(|e: String| format!("cannot read: {e}"))
    }
}

/// Adds the `.json` objects under the remote's prefix to `out`: all of them, or with a
/// window only those under the window's hour prefixes.
pub(super) fn discover(
    r: &Arc<Remote>,
    window: Option<HourWindow>,
    out: &mut Vec<BlobRef>,
) -> Result<ListStats> {
    let mut stats = ListStats::default();
    let metas = runtime().block_on(async {
        match window {
            None => {
                stats.requests += 1;
                list_all(r, &r.prefix).await
            }
            Some(w) => list_window(r, w, &mut stats).await,
        }
    })?;
    for m in metas {
        stats.objects += 1;
        if m.location
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("json"))
        {
            out.push(r.blob(m));
        }
    }
    Ok(stats)
}

async fn list_all(r: &Remote, prefix: &Path) -> Result<Vec<ObjectMeta>> {
    let p = (!prefix.as_ref().is_empty()).then_some(prefix);
    r.store
        .list(p)
        .try_collect()
        .await
        .map_err(|e| store_error(&r.name, e))
}

/// Lists only the hours of `w`: finds the folders holding `y=` folders (one per flow log
/// resource) by listing level by level, then lists each whole day's (or single hour's)
/// prefix of the window under each of them.
async fn list_window(r: &Remote, w: HourWindow, stats: &mut ListStats) -> Result<Vec<ObjectMeta>> {
    let mut metas = Vec::new();
    let mut roots = Vec::new();
    let mut frontier = vec![r.prefix.clone()];
    for _ in 0..MAX_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let levels: Vec<(Path, object_store::ListResult)> = stream::iter(frontier)
            .map(|p| async move {
                let q = (!p.as_ref().is_empty()).then_some(&p);
                let l = r.store.list_with_delimiter(q).await;
                l.map(|l| (p, l))
            })
            .buffer_unordered(PARALLEL_LISTS)
            .try_collect()
            .await
            .map_err(|e| store_error(&r.name, e))?;
        frontier = Vec::new();
        for (p, l) in levels {
            stats.requests += 1;
            metas.extend(l.objects);
            if l.common_prefixes
                .iter()
                .any(|c| c.filename().is_some_and(|f| f.starts_with("y=")))
            {
                roots.push(p);
            } else {
                frontier.extend(l.common_prefixes);
            }
        }
    }
    let folders = w.folders();
    let prefixes: Vec<Path> = roots
        .iter()
        .flat_map(|root| {
            folders.iter().map(move |f| {
                let sep = if root.as_ref().is_empty() { "" } else { "/" };
                Path::from(format!("{root}{sep}{f}"))
            })
        })
        .collect();
    stats.requests += prefixes.len() as u64;
    let lists: Vec<Vec<ObjectMeta>> = stream::iter(prefixes)
        .map(|p| async move { list_all(r, &p).await })
        .buffer_unordered(PARALLEL_LISTS)
        .try_collect()
        .await?;
    metas.extend(lists.into_iter().flatten());
    Ok(metas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls_are_told_from_paths() {
        for u in [
            "az://flowlogs/insights",
            "abfss://c@acct.dfs.core.windows.net/x",
            "https://acct.blob.core.windows.net/insights-logs-flowlogflowevent",
            "s3://bucket/prefix",
        ] {
            assert!(is_remote(u), "{u}");
        }
        for p in [
            "data/azure",
            "/tmp/x.json",
            "https://example.com/x.json",
            "C:\\logs",
        ] {
            assert!(!is_remote(p), "{p}");
        }
    }

    #[test]
    fn secrets_are_redacted_from_messages() {
        let m = "error sending request for url (https://a.blob.core.windows.net/c/x?sv=2022&sig=abc%2Bdef&se=1): timeout; AccountName=a;AccountKey=c2VjcmV0==;X-Amz-Signature=deadbeef";
        let r = redact(m);
        for secret in ["abc%2Bdef", "c2VjcmV0", "deadbeef"] {
            assert!(!r.contains(secret), "{r}");
        }
        assert!(
            r.contains("sig=REDACTED&se=1") && r.contains("AccountName=a"),
            "{r}"
        );
    }

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
            &RemoteOptions::default(),
        )
        .unwrap();
        assert_eq!(r.name(), "https://acct.blob.core.windows.net/logs/prefix");
        assert_eq!(r.prefix.as_ref(), "prefix");
        assert_eq!(
            r.key(&Path::from("a/b.json")),
            "https://acct.blob.core.windows.net/logs/a/b.json"
        );
        assert!(!format!("{r:?}").contains("SECRET"));
    }
}
