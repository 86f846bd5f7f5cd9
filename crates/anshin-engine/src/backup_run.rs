//! One backup or restore of one server, over SSH, as contract §7 says (the commands are
//! `anshin-core::backup`'s): the archive streamed into the backup store and compressed on this
//! machine with zstd, the full's snapshot file kept beside it, the run recorded in the store from
//! its start to its end (a generation only when it ended well), the previous week pruned once a
//! new full completed; a restore streams the full and the chosen differential back.
//!
//! Owns: the backup store's layout (`STORE/LABEL/ID-KIND.tar.zst`, `ID-full.snar`; directories
//! 0700), the zstd processes, which run kind a manual run takes, turning an SSH failure into
//! `interrupted` (the connection) or `failed` (the command).
//! Must not know: schedules and the engine's clock (the caller says when), consoles.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anshin_core::backup::{self as rules, BackupJob, Kind, RestoreJob, RestoreTarget, Run, RunState};
use anshin_core::fleet::{Fleet, Server};
use anshin_core::resource;
use anshin_core::tar_count::TarCount;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::ssh::{SshError, SshPool, SshTarget};
use crate::store::backups::{BackupKind, BackupOutcome, BackupRun};
use crate::store::Store;

/// No data for this long ends a stream (an archive, a restore's input).
pub const STREAM_IDLE: Duration = Duration::from_secs(120);
/// Standard error kept of a run (tar's per-file warnings).
const MAX_STDERR: usize = 64 * 1024;
/// The SSH steps' timeout (connect, handshake, channel open) of backup sessions.
const STEP: Duration = Duration::from_secs(20);

/// How a run is going, told as its archive streams in (at most once a second).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub run: i64,
    pub kind: Kind,
    pub started: DateTime<Utc>,
    /// Archive bytes received so far (before compression).
    pub bytes: u64,
    /// Files in the archive so far (its tar headers).
    pub files: u64,
}

/// The archive on its way to zstd, its files counted from the tar headers going by.
struct Counting<'a, W> {
    inner: &'a mut W,
    count: TarCount,
    /// The count so far, for the progress told while the stream runs.
    files: Arc<AtomicU64>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<'_, W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut *this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &written {
            this.count.feed(&buf[..*n]);
            this.files.store(this.count.files(), Ordering::Relaxed);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}

/// The SSH sessions of backups and restores: a pool of their own, never the polls' (a stream
/// holds its session's connection).
pub fn ssh_pool() -> SshPool {
    SshPool::new(2, STEP)
}

#[derive(Debug, thiserror::Error)]
pub enum BackupRunError {
    #[error("no server \"{0}\" in the fleet file")]
    UnknownServer(String),
    #[error("{0} has no SSH access in the fleet file: backups need it")]
    NoAccess(String),
    #[error("the fleet keeps no backups: set [noc] backup = {{ store = \"DIR\" }}")]
    NoStore,
    #[error("{host} is not backed up: {why}")]
    NotEligible { host: String, why: String },
    #[error("generation {0} of this server does not exist or is not restorable")]
    NoGeneration(i64),
    #[error("{0}")]
    Ssh(Box<SshError>),
    #[error("the backup store {}: {detail}", path.display())]
    LocalStore { path: PathBuf, detail: String },
    #[error("zstd: {0} (is the zstd package installed on this machine?)")]
    Zstd(String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Refused(String),
    /// The backup store has no room for the run (the numbers in the text).
    #[error("{0}")]
    StoreFull(String),
}

impl From<SshError> for BackupRunError {
    fn from(e: SshError) -> Self {
        BackupRunError::Ssh(Box::new(e))
    }
}

/// Where a server's archives are: `STORE/LABEL/` (0700).
fn server_dir(store_dir: &Path, label: &str) -> PathBuf {
    store_dir.join(label)
}

fn archive_name(id: i64, kind: Kind) -> String {
    format!("{id}-{}.tar.zst", kind.as_str())
}

fn snapshot_name(id: i64) -> String {
    format!("{id}-full.snar")
}

fn local(path: &Path, e: impl std::fmt::Display) -> BackupRunError {
    BackupRunError::LocalStore { path: path.to_path_buf(), detail: e.to_string() }
}

/// Makes a directory of the store (and its parents) with mode 0700.
fn private_dir(dir: &Path) -> Result<(), BackupRunError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| local(dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| local(dir, e))
}

/// The file system of the backup store's directory `dir` (which exists).
pub fn store_space(dir: &Path) -> Result<rules::StoreSpace, BackupRunError> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(|e| local(dir, std::io::Error::from(e)))?;
    let block = st.fragment_size() as u64;
    Ok(rules::StoreSpace {
        total: (st.blocks() as u64).saturating_mul(block),
        free: (st.blocks_available() as u64).saturating_mul(block),
    })
}

fn core_kind(k: BackupKind) -> Kind {
    match k {
        BackupKind::Full => Kind::Full,
        BackupKind::Differential => Kind::Differential,
    }
}

/// The store's record as the core's rules read it.
pub fn core_run(r: &BackupRun) -> Run {
    let parse = |t: &str| DateTime::parse_from_rfc3339(t).map(|t| t.with_timezone(&Utc)).ok();
    Run {
        generation: r.id,
        kind: core_kind(r.kind),
        state: match r.state.as_str() {
            "running" => RunState::Running,
            "ok" => RunState::Ok,
            "failed" => RunState::Failed,
            "interrupted" => RunState::Interrupted,
            _ => RunState::Pruned,
        },
        started: parse(&r.started_at).unwrap_or_default(),
        finished: r.finished_at.as_deref().and_then(parse),
    }
}

/// One server's backup context, checked: its fleet entry, where to log in, the store folder.
pub struct BackupTarget<'a> {
    pub server: &'a Server,
    pub ssh: SshTarget,
    pub sudo: bool,
    pub dir: PathBuf,
}

impl<'a> BackupTarget<'a> {
    pub fn of(fleet: &'a Fleet, host: &str) -> Result<BackupTarget<'a>, BackupRunError> {
        let server = fleet.server(host).ok_or_else(|| BackupRunError::UnknownServer(host.into()))?;
        let ssh = crate::fleet_file::ssh_target(server).ok_or_else(|| BackupRunError::NoAccess(host.into()))?;
        let store = fleet.backup.store.as_ref().ok_or(BackupRunError::NoStore)?;
        let sudo = server.ssh.as_ref().is_some_and(|s| s.sudo);
        Ok(BackupTarget { server, ssh, sudo, dir: server_dir(Path::new(store), &server.label) })
    }
}

/// Measures the server's backed-up paths now and judges it (contract §7): refused with the
/// reason and the numbers when it may not be backed up.
pub async fn check_eligible(
    fleet: &Fleet,
    t: &BackupTarget<'_>,
    pool: &SshPool,
    now: DateTime<Utc>,
) -> Result<(), BackupRunError> {
    let out = pool.exec(&t.ssh, &resource::poll_command(&t.server.backup.include), resource::MAX_OUTPUT).await?;
    let sample = resource::parse_poll(&out.stdout)
        .map_err(|e| BackupRunError::NotEligible { host: t.server.label.clone(), why: e.to_string() })?;
    match rules::eligibility_at(fleet, t.server, now, &sample.paths) {
        rules::Eligibility::Eligible { .. } => Ok(()),
        other => Err(BackupRunError::NotEligible { host: t.server.label.clone(), why: describe(&other) }),
    }
}

/// The reason a server is not backed up, with its numbers.
pub fn describe(e: &rules::Eligibility) -> String {
    match e {
        rules::Eligibility::Eligible { used_bytes, used_inodes } => {
            format!("eligible ({used_bytes} bytes, {used_inodes} inodes used)")
        }
        rules::Eligibility::NotInPlan { plan } => format!("plan {} has no backups", plan.as_str()),
        rules::Eligibility::NotMeasured { why } => format!("not measured: {why}"),
        rules::Eligibility::TooBig { used_bytes } => {
            format!("{used_bytes} bytes used, more than the limit of {}", rules::MAX_USED_BYTES)
        }
        rules::Eligibility::TooManyInodes { used } => {
            format!("{used} inodes used, more than the limit of {}", rules::MAX_USED_INODES)
        }
    }
}

/// Runs one backup of `t` now: a full when asked (or when no full completed yet), else a
/// differential against the latest full. Records it in `db` from its start; returns the run as
/// it ended (`ok`, `failed` or `interrupted`). Prunes the previous week after a full completed.
pub async fn run_backup(
    db: &Path,
    t: &BackupTarget<'_>,
    pool: &SshPool,
    full: bool,
    by: &str,
    now: impl Fn() -> DateTime<Utc>,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<BackupRun, BackupRunError> {
    let label = t.server.label.clone();
    let mut store = Store::open(db)?;
    let stored = {
        let tx = store.begin()?;
        tx.backups(Some(&label), 10_000)?
    };
    let runs: Vec<Run> = stored.iter().map(core_run).collect();
    let base = if full { None } else { rules::base(&runs).map(|r| r.generation) };
    let kind = if base.is_some() { Kind::Differential } else { Kind::Full };
    let snapshot_in = match base {
        Some(b) => {
            let path = t.dir.join(snapshot_name(b));
            Some(std::fs::read(&path).map_err(|e| local(&path, e))?)
        }
        None => None,
    };
    private_dir(&t.dir)?;
    // The store must hold it: refused with the numbers otherwise (the NOC's side, not a run).
    let previous: Vec<(Kind, u64)> = stored
        .iter()
        .filter(|r| r.state == "ok" || r.state == "pruned")
        .map(|r| (core_kind(r.kind), r.bytes))
        .collect();
    let space = store_space(&t.dir)?;
    rules::fits(&space, kind, rules::expected_bytes(kind, &previous)).map_err(BackupRunError::StoreFull)?;
    let run = {
        let tx = store.begin()?;
        let store_kind = if kind == Kind::Full { BackupKind::Full } else { BackupKind::Differential };
        let run =
            tx.start_backup(&label, store_kind, base, by, now()).map_err(|e| BackupRunError::Refused(e.to_string()))?;
        tx.commit()?;
        run
    };
    let archive = t.dir.join(archive_name(run.id, kind));
    let going = Progress { run: run.id, kind, started: now(), bytes: 0, files: 0 };
    let outcome = take(t, pool, &archive, snapshot_in.as_deref(), going, progress).await;
    // A lost connection cuts the run off (interrupted); anything else ends it failed.
    let (state_outcome, interrupted) = match outcome {
        Ok(o) => (o, None),
        Err(e) => {
            let _ = std::fs::remove_file(&archive);
            let cut = matches!(&e, BackupRunError::Ssh(s) if matches!(**s, SshError::Transport { .. } | SshError::Timeout { .. }));
            (BackupOutcome::Failed { detail: e.to_string() }, cut.then(|| e.to_string()))
        }
    };
    let tx = store.begin()?;
    let ended = match interrupted {
        Some(why) => tx.interrupt_backup(run.id, &why, now())?,
        None => tx.finish_backup(run.id, &state_outcome, now())?,
    };
    let mut pruned = Vec::new();
    if kind == Kind::Full && matches!(state_outcome, BackupOutcome::Ok { .. }) {
        let runs: Vec<Run> = tx.backups(Some(&label), 10_000)?.iter().map(core_run).collect();
        pruned = tx.prune_backups(&rules::prune(&runs), &format!("full #{} completed", run.id), now())?;
    }
    tx.commit()?;
    // The pruned generations' files go once the store no longer lists them.
    for p in pruned {
        for f in [p.archive.as_deref(), p.snapshot.as_deref()].into_iter().flatten() {
            let _ = std::fs::remove_file(t.dir.join(f));
        }
    }
    ended.ok_or_else(|| BackupRunError::Refused("the run was ended by someone else meanwhile".into()))
}

/// The SSH part of a run: the archive into zstd, then (a full) the snapshot file.
async fn take(
    t: &BackupTarget<'_>,
    pool: &SshPool,
    archive: &Path,
    snapshot_in: Option<&[u8]>,
    mut going: Progress,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<BackupOutcome, BackupRunError> {
    let (kind, id) = (going.kind, going.run);
    let job = BackupJob { kind, paths: &t.server.backup, services: &t.server.services, sudo: t.sudo };
    let command = rules::backup_command(&job);
    let mut zstd = tokio::process::Command::new("zstd")
        .args(["-q", "-T1", "-3", "-f", "-o"])
        .arg(archive)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BackupRunError::Zstd(e.to_string()))?;
    let mut pipe = zstd.stdin.take().ok_or_else(|| BackupRunError::Zstd("no input pipe".into()))?;
    let mut input: &[u8] = snapshot_in.unwrap_or_default();
    let files_seen = Arc::new(AtomicU64::new(0));
    let mut sink = Counting { inner: &mut pipe, count: TarCount::new(), files: files_seen.clone() };
    let mut told = std::time::Instant::now();
    let mut tell = |bytes: u64| {
        going.bytes = bytes;
        going.files = files_seen.load(Ordering::Relaxed);
        if told.elapsed() >= Duration::from_secs(1) {
            told = std::time::Instant::now();
            progress(&going);
        }
    };
    let streamed = pool.exec_stream(&t.ssh, &command, &mut input, &mut sink, MAX_STDERR, STREAM_IDLE, &mut tell).await;
    let files = sink.count.files();
    let _ = pipe.shutdown().await;
    drop(pipe);
    let zstd_done = zstd.wait_with_output().await.map_err(|e| BackupRunError::Zstd(e.to_string()))?;
    let streamed = streamed?;
    if !zstd_done.status.success() {
        return Err(BackupRunError::Zstd(String::from_utf8_lossy(&zstd_done.stderr).trim().to_string()));
    }
    let code = streamed.exit_status.map_or(-1, |c| c as i32);
    if code != 0 {
        return Ok(BackupOutcome::Failed { detail: rules::exit_reason(code, &streamed.stderr) });
    }
    let snapshot = if kind == Kind::Full {
        let path = t.dir.join(snapshot_name(id));
        let mut file = tokio::fs::File::create(&path).await.map_err(|e| local(&path, e))?;
        let got = pool
            .exec_stream(
                &t.ssh,
                &rules::snapshot_fetch_command(t.sudo),
                &mut &b""[..],
                &mut file,
                MAX_STDERR,
                STREAM_IDLE,
                &mut |_| {},
            )
            .await?;
        if got.exit_status != Some(0) {
            let code = got.exit_status.map_or(-1, |c| c as i32);
            return Ok(BackupOutcome::Failed { detail: rules::exit_reason(code, &got.stderr) });
        }
        snapshot_name(id)
    } else {
        String::new()
    };
    let bytes = std::fs::metadata(archive).map(|m| m.len()).unwrap_or(0);
    let warnings = streamed.stderr.lines().filter(|l| l.contains("Cannot") || l.contains("Permission denied")).count();
    Ok(BackupOutcome::Ok {
        bytes,
        files,
        warnings: warnings as u64,
        archive: archive.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        snapshot,
    })
}

/// Restores generation `generation` of `t` (a full, or a differential with its full first) into
/// `target`, optionally only `path` under it. Returns what the server said (capped).
pub async fn restore(
    db: &Path,
    t: &BackupTarget<'_>,
    pool: &SshPool,
    generation: i64,
    path: Option<&str>,
    target: &RestoreTarget,
) -> Result<String, BackupRunError> {
    let runs = Store::open_read_only(db)?.backups(Some(&t.server.label), 10_000)?;
    let chosen =
        runs.iter().find(|r| r.id == generation && r.state == "ok").ok_or(BackupRunError::NoGeneration(generation))?;
    let mut steps: Vec<&BackupRun> = Vec::new();
    if let Some(base) = chosen.base {
        steps.push(runs.iter().find(|r| r.id == base && r.state == "ok").ok_or(BackupRunError::NoGeneration(base))?);
    }
    steps.push(chosen);
    let mut said = String::new();
    for run in steps {
        let step = if run.kind == BackupKind::Full { Kind::Full } else { Kind::Differential };
        let file = t.dir.join(run.archive.as_deref().unwrap_or_default());
        let command = rules::restore_command(&RestoreJob { step, target, path, sudo: t.sudo });
        let mut unzstd = tokio::process::Command::new("zstd")
            .args(["-q", "-d", "-c"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| BackupRunError::Zstd(e.to_string()))?;
        let mut input = unzstd.stdout.take().ok_or_else(|| BackupRunError::Zstd("no output pipe".into()))?;
        let mut out = Vec::new();
        let streamed =
            pool.exec_stream(&t.ssh, &command, &mut input, &mut out, MAX_STDERR, STREAM_IDLE, &mut |_| {}).await?;
        let _ = unzstd.wait().await;
        let code = streamed.exit_status.map_or(-1, |c| c as i32);
        // A single file unchanged since the full is not in the differential: as in the full.
        let unchanged = step == Kind::Differential && code == 2 && streamed.stderr.contains("Not found in archive");
        if code != 0 && !unchanged {
            return Err(BackupRunError::Refused(rules::exit_reason(code, &streamed.stderr)));
        }
        said.push_str(&streamed.stderr);
    }
    Ok(said)
}
