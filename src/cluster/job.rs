//! A cluster job the client never waits on forever.
//!
//! Why: Ballista's client polls the scheduler for its job's status until the job succeeds or
//! fails, with no bound. A job the scheduler never finishes (a dropped task status, an
//! executor that stopped serving) kept a report running until someone killed it, and a
//! client that stopped early left its job running on the cluster. [`Watch::guard`] rides
//! along a query's stream: once the scheduler has accepted the job, a watchdog asks every
//! second for the job's status and finished stages; a job that goes [`Watch::stall`]
//! without a change is cancelled on the scheduler and the stream ends with an error naming
//! the job and what the scheduler last said. A stream dropped before its job ended (Ctrl-C,
//! `| head`) cancels the job too.
//!
//! ```text
//!   query::run::stream ─▶ DistributedQueryExec (Ballista: submit, poll, fetch) ─▶ batches
//!                           │ job id                                           │
//!   watchdog ◀──────────────┘                                      Guarded ◀───┘
//!     each second: get_job_status, get_job_metrics (finished stages)   │
//!     no change for `stall` ─▶ cancel_job ─▶ error into the stream ────┘
//!   Guarded dropped before the job ended ─▶ cancel_job
//! ```

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{
    CancelJobParams, GetJobMetricsParams, GetJobStatusParams, job_status,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::LogicalPlanNode;
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::oneshot;

/// How long a job may go without progress when nothing else is said.
pub const DEFAULT_STALL: Duration = Duration::from_secs(300);

/// How often the watchdog asks the scheduler.
const POLL: Duration = Duration::from_secs(1);

/// How long cancelling a job may take when the client stops early.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(3);

/// What watches a session's cluster jobs: the scheduler's gRPC URL and the stall bound. A
/// cluster session's queries stream through [`Watch::guard`] ([`super::connect`] puts it in
/// the session as its [`crate::query::run::StreamGuard`]).
#[derive(Debug, Clone)]
pub struct Watch {
    /// `http://HOST:PORT` of the scheduler.
    pub scheduler: String,
    /// A job whose status and finished stages stay the same this long is cancelled.
    pub stall: Duration,
}

/// What the watchdog knows of the job, shared with the stream.
#[derive(Debug, Default)]
struct Seen {
    /// The job's id, once the scheduler accepted it.
    job: Option<String>,
    /// The job succeeded or failed: nothing to cancel.
    ended: bool,
    /// Why the watchdog gave up on the job (set before it cancels the job, so that the
    /// error Ballista's client then sees, `Job … failed: Cancelled`, reads as this).
    gave_up: Option<String>,
}

impl Watch {
    /// `stream` of `plan`, watched when `plan` runs a Ballista job; else `stream` itself.
    pub fn guard(
        &self,
        plan: &Arc<dyn ExecutionPlan>,
        stream: SendableRecordBatchStream,
    ) -> SendableRecordBatchStream {
        let Some(exec) = distributed(plan) else {
            return stream;
        };
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (stalled, on_stall) = oneshot::channel();
        let watchdog = tokio::spawn(watch(self.clone(), exec, seen.clone(), stalled));
        Box::pin(Guarded {
            schema: stream.schema(),
            inner: stream,
            on_stall: Some(on_stall),
            watchdog,
            seen,
            scheduler: self.scheduler.clone(),
            finished: false,
        })
    }
}

/// The Ballista node of `plan` (its root, or below a node the client added).
fn distributed(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    if plan.is::<DistributedQueryExec<LogicalPlanNode>>() {
        return Some(plan.clone());
    }
    plan.children().into_iter().find_map(distributed)
}

/// The job id `exec` was given by the scheduler, once it has one.
fn job_of(exec: &Arc<dyn ExecutionPlan>) -> Option<String> {
    exec.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
        .and_then(DistributedQueryExec::job_id)
        .map(String::from)
}

/// What the scheduler said of the job, as the watchdog compares and reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    /// The job's status and the ids of its finished stages.
    Status { status: String, stages: Vec<u32> },
    /// The scheduler did not answer.
    Unreachable(String),
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Word::Status { status, stages } if stages.is_empty() => {
                write!(f, "{status}, no stage finished")
            }
            Word::Status { status, stages } => {
                let ids: Vec<String> = stages.iter().map(u32::to_string).collect();
                write!(f, "{status}, stages {} finished", ids.join(", "))
            }
            Word::Unreachable(e) => write!(f, "no answer ({e})"),
        }
    }
}

/// A job status as a phrase (`running since 17:02:11 UTC`).
fn status_text(status: Option<&job_status::Status>) -> (String, bool) {
    let at = |ms: u64| {
        chrono::DateTime::from_timestamp_millis(ms as i64)
            .map(|t| t.format("%H:%M:%S UTC").to_string())
            .unwrap_or_else(|| ms.to_string())
    };
    match status {
        None => ("being planned".into(), false),
        Some(job_status::Status::Queued(q)) => (format!("queued since {}", at(q.queued_at)), false),
        Some(job_status::Status::Running(r)) => {
            (format!("running since {}", at(r.started_at)), false)
        }
        Some(job_status::Status::Failed(f)) => (format!("failed: {}", f.error), true),
        Some(job_status::Status::Successful(_)) => ("successful".into(), true),
    }
}

/// The watchdog: waits for the job id, then asks the scheduler each [`POLL`] until the job
/// ends, and cancels it when nothing changed for `w.stall`.
async fn watch(
    w: Watch,
    exec: Arc<dyn ExecutionPlan>,
    seen: Arc<Mutex<Seen>>,
    stalled: oneshot::Sender<DataFusionError>,
) {
    let mut client = None;
    let mut last: Option<Word> = None;
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let Some(job) = job_of(&exec) else {
            // Submitting (the client asks for the job id in the submission's answer:
            // [`super::session_config`] sets Ballista's pull mode).
            if since.elapsed() >= w.stall {
                let _ = stalled.send(DataFusionError::Execution(format!(
                    "the scheduler at {} took the query but gave no job id within {}; nothing was cancelled. The scheduler's log says why",
                    w.scheduler,
                    humantime::format_duration(w.stall)
                )));
                return;
            }
            continue;
        };
        seen.lock().unwrap_or_else(|p| p.into_inner()).job = Some(job.clone());
        let word = match ask(&w.scheduler, &mut client, &job).await {
            Ok((_, true)) => {
                seen.lock().unwrap_or_else(|p| p.into_inner()).ended = true;
                return;
            }
            Ok((word, false)) => word,
            Err(e) => {
                client = None;
                Word::Unreachable(e)
            }
        };
        if last.as_ref() != Some(&word) {
            last = Some(word);
            since = Instant::now();
            continue;
        }
        if since.elapsed() >= w.stall {
            let why = |cancelled: &str| {
                format!(
                    "cluster job {job} made no progress for {} (the scheduler's last word: {word}); \
                     {cancelled}. The scheduler's log says why; a job whose stages run longer \
                     needs a larger --stall-timeout",
                    humantime::format_duration(w.stall)
                )
            };
            {
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                seen.gave_up = Some(why("cancelled it on the scheduler"));
                seen.ended = true;
            }
            let message = match cancel(&w.scheduler, &job).await {
                Ok(()) => why("cancelled it on the scheduler"),
                Err(e) => why(&format!("could not cancel it on the scheduler ({e})")),
            };
            let _ = stalled.send(DataFusionError::Execution(message));
            return;
        }
    }
}

/// The scheduler's client.
type Client = SchedulerGrpcClient<tonic::transport::Channel>;

/// Connects to the scheduler at `url` (`http://HOST:PORT`).
pub(super) async fn connect(url: &str) -> Result<Client, String> {
    let connect = SchedulerGrpcClient::connect(url.to_string());
    match tokio::time::timeout(super::CONNECT_TIMEOUT, connect).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:?}", super::CONNECT_TIMEOUT)),
    }
}

/// Asks the scheduler for the job's status and finished stages; whether the job ended.
async fn ask(
    scheduler: &str,
    client: &mut Option<Client>,
    job: &str,
) -> Result<(Word, bool), String> {
    let c = match client {
        Some(c) => c,
        None => client.insert(connect(scheduler).await?),
    };
    let status = c
        .get_job_status(GetJobStatusParams {
            job_id: job.to_string(),
        })
        .await
        .map_err(|e| e.message().to_string())?
        .into_inner()
        .status
        .and_then(|s| s.status);
    let (status, ended) = status_text(status.as_ref());
    if ended {
        return Ok((
            Word::Status {
                status,
                stages: vec![],
            },
            true,
        ));
    }
    // Finished stages only: the scheduler reports a stage's metrics once it succeeded.
    let mut stages: Vec<u32> = match c
        .get_job_metrics(GetJobMetricsParams {
            job_id: job.to_string(),
        })
        .await
    {
        Ok(r) => r.into_inner().stages.iter().map(|s| s.stage_id).collect(),
        Err(_) => vec![],
    };
    stages.sort_unstable();
    Ok((Word::Status { status, stages }, false))
}

/// Cancels the job on the scheduler.
async fn cancel(scheduler: &str, job: &str) -> Result<(), String> {
    let work = async {
        connect(scheduler)
            .await?
            .cancel_job(CancelJobParams {
                job_id: job.to_string(),
            })
            .await
            .map_err(|e| e.message().to_string())
    };
    match tokio::time::timeout(CANCEL_TIMEOUT, work).await {
        Ok(r) => r.map(|_| ()),
        Err(_) => Err(format!("no answer within {CANCEL_TIMEOUT:?}")),
    }
}

/// A job's stream of batches, ended by an error when the watchdog gave up on the job.
struct Guarded {
    schema: SchemaRef,
    inner: SendableRecordBatchStream,
    /// The watchdog's verdict; `None` once it came (or the watchdog ended without one).
    on_stall: Option<oneshot::Receiver<DataFusionError>>,
    watchdog: tokio::task::JoinHandle<()>,
    seen: Arc<Mutex<Seen>>,
    scheduler: String,
    /// The stream returned its end or an error.
    finished: bool,
}

impl Stream for Guarded {
    type Item = Result<RecordBatch, DataFusionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if let Some(verdict) = self.on_stall.as_mut()
            && let Poll::Ready(r) = verdict.poll_unpin(cx)
        {
            self.on_stall = None;
            if let Ok(e) = r {
                self.finished = true;
                return Poll::Ready(Some(Err(e)));
            }
        }
        let next = self.inner.poll_next_unpin(cx);
        if matches!(next, Poll::Ready(None | Some(Err(_)))) {
            self.finished = true;
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.ended = true;
            // The job failed because the watchdog cancelled it: say why.
            if let (Poll::Ready(Some(Err(_))), Some(why)) = (&next, seen.gave_up.take()) {
                return Poll::Ready(Some(Err(DataFusionError::Execution(why))));
            }
        }
        next
    }
}

impl RecordBatchStream for Guarded {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Drop for Guarded {
    /// Stops the watchdog; cancels a job that has not ended (the client stopped reading:
    /// Ctrl-C, a closed pipe, a full table). Blocks for at most [`CANCEL_TIMEOUT`], on a
    /// thread of its own, so the cancellation is sent even when the process ends next.
    fn drop(&mut self) {
        self.watchdog.abort();
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let (Some(job), false) = (seen.job.clone(), seen.ended || self.finished) else {
            return;
        };
        drop(seen);
        let scheduler = self.scheduler.clone();
        let cancelled = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(cancel(&scheduler, &job))
                .map_err(|e| format!("cluster job {job} was left running: {e}"))
        })
        .join();
        if let Ok(Err(e)) = cancelled {
            log::warn!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedulers_word_reads_as_a_phrase() {
        let running = Word::Status {
            status: "running since 17:02:11 UTC".into(),
            stages: vec![1, 2],
        };
        assert_eq!(
            running.to_string(),
            "running since 17:02:11 UTC, stages 1, 2 finished"
        );
        let fresh = Word::Status {
            status: "queued since 17:02:11 UTC".into(),
            stages: vec![],
        };
        assert_eq!(
            fresh.to_string(),
            "queued since 17:02:11 UTC, no stage finished"
        );
        let (text, ended) = status_text(Some(&job_status::Status::Running(
            ballista_core::serde::protobuf::RunningJob {
                queued_at: 0,
                started_at: 1_764_000_000_000,
                scheduler: String::new(),
            },
        )));
        assert_eq!(
            (text.as_str(), ended),
            ("running since 16:00:00 UTC", false)
        );
        assert!(status_text(None).0.contains("planned"));
    }
}
