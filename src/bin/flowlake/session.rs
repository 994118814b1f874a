//! Opening a query session from the command line (`sql`, `shell`, `report`), and the one
//! way statements run with Ctrl-C cancellation.

use anyhow::Result;
use datafusion::error::DataFusionError;

use flowlake::config::Config;
use flowlake::query::errors::describe;
use flowlake::query::run::table_names;
use flowlake::query::{LakeSession, QueryOptions};

use crate::args::QueryArgs;
use crate::out;

/// A multi-threaded runtime for queries.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

impl QueryArgs {
    /// The config file's contents, or the defaults without one.
    pub fn config(&self) -> Result<Config> {
        Ok(match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        })
    }

    /// Opens the session: sets from the config first, then --set (which wins on a name clash);
    /// the inventory indexed over `inventory_span` only, when given; over `manifest` when the
    /// caller read it already. Ctrl-C while it opens
    /// (on a cluster, the inventory is read by a job) ends the process with status 130,
    /// cancelling that job.
    pub fn open(
        &self,
        rt: &tokio::runtime::Runtime,
        config: &Config,
        inventory_span: Option<(i64, i64)>,
        manifest: Option<flowlake::lake::manifest::Manifest>,
    ) -> Result<LakeSession> {
        until_ctrl_c(rt, self.open_session(config, inventory_span, manifest))?
            .ok_or_else(|| Interrupted.into())
    }

    async fn open_session(
        &self,
        config: &Config,
        inventory_span: Option<(i64, i64)>,
        manifest: Option<flowlake::lake::manifest::Manifest>,
    ) -> Result<LakeSession> {
        let lake = self.lake.location()?;
        let mut sets = config.set_specs();
        sets.extend(self.sets.iter().cloned());
        let mut geo_dbs = config.geo.databases.clone();
        geo_dbs.extend(self.geo_dbs.iter().cloned());
        let opts = QueryOptions {
            sets,
            inventory_span,
            geo_dbs,
            manifest,
        };
        let session = match &self.cluster {
            None => flowlake::query::session(&lake, &opts).await?,
            Some(c) => flowlake::cluster::session(c, self.stall_timeout, &lake, &opts).await?,
        };
        warn_rejected_lines(&session);
        if let [first, ..] = session.missing_files.as_slice() {
            out::warning(&format!(
                "lake {}: {} files its manifest lists are missing (such as {first}): queries that read them fail, naming the file; restore them from a backup",
                lake.name(),
                session.missing_files.len()
            ));
        }
        if session.commit_pending {
            out::warning(&format!(
                "lake {} has a commit being applied or interrupted; until an ingest or compact finishes it, some partitions may be from the previous commit",
                lake.name()
            ));
        }
        Ok(session)
    }
}

/// Ctrl-C stopped the command before it had anything to show (`main` exits with 130).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Interrupted {}

/// Runs `work` until it ends (`Some`) or Ctrl-C is pressed (`None`: `work` is dropped, which
/// cancels a cluster job it was running).
pub fn until_ctrl_c<T>(
    rt: &tokio::runtime::Runtime,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<Option<T>> {
    rt.block_on(async {
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => Ok(None),
            r = work => r.map(Some),
        }
    })
}

/// Lines of IP set files shown per set; the rest are counted.
const REJECTS_SHOWN: usize = 5;

/// Names each skipped line of the loaded IP sets (file and line): the rest of each set loaded.
fn warn_rejected_lines(session: &LakeSession) {
    for set in session.sets.sets() {
        let rejects = set.rejects();
        for r in rejects.iter().take(REJECTS_SHOWN) {
            out::warning(&format!(
                "{}:{}: IP set '{}' ({}): {}; line skipped",
                set.path().display(),
                r.line,
                set.name(),
                set.format().name(),
                r.message
            ));
        }
        if rejects.len() > REJECTS_SHOWN {
            out::warning(&format!(
                "{}: IP set '{}': {} more lines skipped ({} entries loaded)",
                set.path().display(),
                set.name(),
                rejects.len() - REJECTS_SHOWN,
                set.entries()
            ));
        }
    }
}

/// One readable line for a failed query (position, closest name; for a Parquet error on a
/// local lake, which of its files are damaged), other errors as they are.
pub fn query_error(e: flowlake::Error, session: &LakeSession) -> anyhow::Error {
    match e {
        flowlake::Error::Query(q) => {
            let parquet = matches!(q.find_root(), DataFusionError::ParquetError(_));
            let mut text = describe(&q, &table_names(&session.ctx));
            if let (true, flowlake::store::Location::Local(root)) = (parquet, &session.lake) {
                let damaged = flowlake::query::committed::damaged_local(root, &session.manifest);
                if !damaged.is_empty() {
                    text.push_str(&format!(
                        "; damaged files of lake {}: {}",
                        root.display(),
                        damaged.join(", ")
                    ));
                }
            }
            anyhow::anyhow!(text)
        }
        other => other.into(),
    }
}
