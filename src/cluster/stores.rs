//! The object stores of a cluster's nodes.
//!
//! Why: a physical plan names its files by URL. A remote lake's files are under
//! `flowlake-lake://<the lake's URL in hex>/...` ([`crate::query::committed::store_url`]);
//! a node that meets such a URL for the first time opens the lake's store from the URL, with
//! the node's own credential environment (the same variables as `ingest`), and keeps it.
//! Everything else (local files, stores a session registered) is DataFusion's default
//! registry. A local lake's URL (`flowlake-lake://<hex of its path>`) opens the local file
//! system under that path, except in a node process, which refuses local files and lakes
//! ([`LakeStores::remote_only`]).

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use object_store::ObjectStore;
use url::Url;

use crate::query::committed::lake_of;
use crate::store::{Remote, StoreOptions};

/// DataFusion's registry, plus remote lakes opened on first use (see the module docs).
#[derive(Debug, Default)]
pub struct LakeStores {
    inner: DefaultObjectStoreRegistry,
    /// Refuse the local file system (a cluster node's, see [`super::guard`]).
    remote_only: bool,
}

impl LakeStores {
    /// The stores of a cluster node: lakes on object storage only, never a local file.
    pub fn remote_only() -> Self {
        LakeStores {
            remote_only: true,
            ..LakeStores::default()
        }
    }
}

impl ObjectStoreRegistry for LakeStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        // A node never serves a local lake: its store is not taken, so `get_store` refuses it.
        if self.remote_only && local_lake(url).is_some() {
            return None;
        }
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if self.remote_only && (url.scheme() == "file" || local_lake(url).is_some()) {
            return Err(DataFusionError::Plan(format!(
                "{url}: a flowlake cluster node reads lakes on object storage only, never its own files"
            )));
        }
        if let Ok(store) = self.inner.get_store(url) {
            return Ok(store);
        }
        if let Some(root) = local_lake(url) {
            let store = crate::query::committed::local_store(std::path::Path::new(&root))
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            self.inner.register_store(url, store.clone());
            return Ok(store);
        }
        let Some(lake) = lake_of(url) else {
            return self.inner.get_store(url);
        };
        let remote = Remote::open(&lake, &StoreOptions::default())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let store = remote.store().0;
        self.inner.register_store(url, store.clone());
        Ok(store)
    }
}

/// The path of the local lake a `flowlake-lake://` URL names (an absolute path, where a
/// remote lake's name is a URL).
fn local_lake(url: &Url) -> Option<String> {
    lake_of(url).filter(|l| l.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lake_url_opens_its_store_once() {
        let lake = Remote::open("s3://bucket/lake", &StoreOptions::default()).unwrap();
        let url = crate::query::committed::store_url(&lake);
        let stores = LakeStores::default();
        let a = stores.get_store(&url).unwrap();
        let b = stores.get_store(&url).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a.to_string().contains("bucket"), "{a}");
        let other = Url::parse("flowlake-lake://zz").unwrap();
        assert!(stores.get_store(&other).is_err());
        let file = Url::parse("file:///").unwrap();
        assert!(stores.get_store(&file).is_ok());
        let node = LakeStores::remote_only();
        let e = node
            .get_store(&Url::parse("file:///etc/").unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("object storage only"), "{e}");
        assert!(node.get_store(&url).is_ok());
        // A local lake's URL: opened by a client's process, refused by a node.
        let local = crate::query::committed::store_url_of("/etc");
        assert!(stores.get_store(&local).is_ok());
        node.register_store(&local, stores.get_store(&local).unwrap());
        let e = node.get_store(&local).unwrap_err();
        assert!(e.to_string().contains("object storage only"), "{e}");
    }
}
