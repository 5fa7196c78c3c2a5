//! One miner, one round: connect, handshake, check the inventory, measure the RTT, challenge
//! every claimed device at once with `matmul-i8`, then every device at once with `membw`, then
//! probe the bandwidth both ways (sized from the RTT within the miner's share of the round's
//! probe budget, each direction due by its own deadline: [`super::probe::sizing`]).
//!
//! The round's time limit (`miner_timeout`) is a deadline every device session sees: when it
//! passes, each running session is judged as if its pending answer were overdue (`timeout`
//! before the commitment, `wrong-result` after it), and a challenge planned but never started
//! is a `timeout` too. A round cut short never leaves "no verdict" for a reason the miner
//! controls (docs/design.md §No score without proof, rule 1); only the verifier's own failures end a
//! challenge without one, and those are never charged and never turned into a pass.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use builtin_modules::Builtin;
use protocol::limits::MAX_GPUS;
use protocol::{GpuInfo, Hotkey, Inventory, Message, MessageKind, Ping, ProbeDirection};
use serde::Serialize;
use tracing::{info, warn};
use transport::{FramedStream, Identity, TransportError};
use validator_store::VerdictKind;

use super::barrier::PhaseBarrier;
use super::device::{DeviceJob, Ended, Outcome, OwnFailure, Prepared, prepare};
use super::plan::Planner;
use super::probe::{ProbePlan, ProbeResult, ProbeSettings, plan_probe, probe_direction};
use crate::classes::CpuRates;
use crate::session::{
    ChallengeSpec, DEFAULT_OPENINGS, DEFAULT_RTT_CAP, DEFAULT_SAMPLES, Envelope, Phase,
    SandboxChecker, SessionConfig, TimedOut, Transcript, Verdict,
};

/// How a round is run.
#[derive(Debug, Clone)]
pub struct ChallengeOptions {
    /// Leaves opened per challenge.
    pub openings: u32,
    /// Positions checked per opened leaf by sampling modules.
    pub samples: u32,
    /// Most RTT subtracted from a measured time.
    pub rtt_cap: Duration,
    /// Pings sent before the challenges; the minimum RTT is kept.
    pub pings: u32,
    /// Time to connect and complete the handshake.
    pub connect_timeout: Duration,
    /// The whole round against one miner may not take longer.
    pub miner_timeout: Duration,
    /// Lifetime of each `Prepare`.
    pub prepare_lifetime: Duration,
    /// How the bandwidth probe is sized (`max_bytes` 0: no probe).
    pub probe: ProbeSettings,
    /// Longest wait for `Ready` after `Prepare` (module compile, device readied).
    pub ready_timeout: Duration,
    /// Longest wait for the `Openings` after `Open`.
    pub openings_timeout: Duration,
    /// Longest wait for each `Pong`.
    pub ping_timeout: Duration,
    /// Modules run each round, in order; each on all devices at once.
    pub modules: Vec<Builtin>,
    /// How long a device answering `busy-device` is retried, as a multiple of its claimed
    /// class's `max_s` (docs/design.md §No score without proof, rule 5: 2).
    pub busy_budget: f64,
}

impl Default for ChallengeOptions {
    /// 32 openings, 4 samples, 50 ms RTT cap, 8 pings (2 s each), 10 s to connect, 120 s per
    /// miner, 60 s Prepare lifetime, probes sized for 1000 Mbit/s up to 128 MiB each way under a
    /// 100 Mbit/s floor, 60 s for `Ready`, 10 s for the openings,
    /// `matmul-i8` then `membw`, busy retried for 2 × the class's `max_s`.
    fn default() -> Self {
        Self {
            openings: DEFAULT_OPENINGS,
            samples: DEFAULT_SAMPLES,
            rtt_cap: DEFAULT_RTT_CAP,
            pings: 8,
            connect_timeout: Duration::from_secs(10),
            miner_timeout: Duration::from_secs(120),
            prepare_lifetime: Duration::from_secs(60),
            probe: ProbeSettings::default(),
            ready_timeout: Duration::from_secs(60),
            openings_timeout: Duration::from_secs(10),
            ping_timeout: Duration::from_secs(2),
            modules: builtin_modules::ALL.to_vec(),
            busy_budget: 2.0,
        }
    }
}

/// What a round needs besides the miner: our identity and endpoint, the checker, the planner.
#[derive(Clone)]
pub struct ClientContext {
    /// Our session key and certificate.
    pub identity: Identity,
    /// The QUIC endpoint connections are made from (one per process).
    pub endpoint: quinn::Endpoint,
    /// The CPU sandbox that re-computes opened leaves (built-in modules loaded).
    pub checker: Arc<SandboxChecker>,
    /// Sizes the challenges.
    pub planner: Arc<dyn Planner>,
    /// Options.
    pub options: ChallengeOptions,
}

impl ClientContext {
    /// A context with a QUIC endpoint of its own, bound to the unspecified address of
    /// `family`'s IP version on the current tokio runtime: the one client setup `verifier run`,
    /// `verifier localnet` and `verifier challenge` share.
    pub fn new(
        identity: Identity,
        checker: Arc<SandboxChecker>,
        planner: Arc<dyn Planner>,
        options: ChallengeOptions,
        family: SocketAddr,
    ) -> Result<Self, TransportError> {
        let endpoint = transport::client_endpoint(
            family,
            identity.signing_key(),
            &transport::ConnectionLimits::default(),
        )?;
        Ok(Self {
            identity,
            endpoint,
            checker,
            planner,
            options,
        })
    }
}

/// Who to challenge.
#[derive(Debug, Clone)]
pub struct MinerTarget {
    /// Its address.
    pub addr: SocketAddr,
    /// Its hotkey, when known (from the metagraph): the handshake must show it.
    pub hotkey: Option<Hotkey>,
    /// Whether our records say the machine is rented (a small exact-work challenge instead).
    pub rented: bool,
    /// `Some`: only inventory entries equal to one of these devices (index, name, UUID,
    /// memory) are challenged — the round engine passes the devices a rented machine last
    /// proved unrented (docs/design.md §No score without proof, rule 6); `None`: every device.
    pub proven_only: Option<Vec<ProvenDevice>>,
    /// Bytes each way the round's probe budget leaves this miner
    /// ([`budget_share`](super::probe::budget_share)); `None`: no budget, only the probe's own
    /// `max_bytes`.
    pub probe_share: Option<u64>,
}

impl MinerTarget {
    /// Whether `gpu` is to be challenged: always without `proven_only`, else when it is one of
    /// those devices as proven.
    pub fn admits(&self, gpu: &GpuInfo) -> bool {
        self.proven_only
            .as_ref()
            .is_none_or(|proven| proven.iter().any(|p| p.matches(gpu)))
    }
}

/// A device as it was proven: what its inventory entry said when it passed the full challenge
/// set unrented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProvenDevice {
    /// Device index.
    pub index: u32,
    /// Driver name.
    pub name: String,
    /// Driver UUID.
    pub uuid: String,
    /// Device memory, bytes.
    pub memory_bytes: u64,
}

impl ProvenDevice {
    /// Whether `gpu` is this device as the inventory claims it now.
    pub fn matches(&self, gpu: &GpuInfo) -> bool {
        self.index == gpu.index
            && self.name == gpu.name
            && self.uuid == gpu.uuid
            && self.memory_bytes == gpu.memory_bytes
    }
}

/// Why a miner's round could not challenge any device, for a reason the miner controls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinerFault {
    /// The verdict kind it counts as: `timeout` (unreachable, the handshake did not finish)
    /// or `protocol-error` (an inventory that cannot be challenged).
    pub kind: VerdictKind,
    /// Where it happened: `connection` or `inventory`.
    pub stage: &'static str,
    /// What happened, for a person.
    pub detail: String,
}

/// One challenge of one device.
#[derive(Debug, Clone, Serialize)]
pub struct ChallengeReport {
    /// The module's name.
    pub module: &'static str,
    /// The params (hex).
    pub params: String,
    /// The verdict, or null when the verifier itself failed (see `error`).
    pub verdict: Option<Verdict>,
    /// Our own failure, never charged to the miner.
    pub error: Option<String>,
    /// The claimed class's window for this challenge (for the verdict of a challenge the
    /// round's end cut before it started).
    #[serde(skip)]
    pub window: Option<Envelope>,
    /// What the session sent, received and decided from, for the challenge's receipt
    /// (`crate::receipt`); `None` when no session was started.
    #[serde(skip)]
    pub evidence: Option<Box<ChallengeEvidence>>,
}

/// What one device challenge leaves for its receipt: the session's spec, config and
/// transcript (every signed message as sent or received, with the times), and how it was
/// planned.
#[derive(Debug, Clone)]
pub struct ChallengeEvidence {
    /// The challenge (module bytes included when the `Prepare` carried them).
    pub spec: ChallengeSpec,
    /// How it was judged: envelopes, min RTT and its cap, leaves, samples, timeouts.
    pub config: SessionConfig,
    /// What was sent and received, with the times.
    pub transcript: Transcript,
    /// The calibrated rates of a `cpu` class (`None` for GPU classes).
    pub cpu_rates: Option<CpuRates>,
    /// Whether the machine was rented (the small exact-work challenge).
    pub rented: bool,
}

/// One device: what it claims and how its challenges went.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    /// Device index.
    pub index: u32,
    /// Claimed name.
    pub name: String,
    /// Claimed UUID.
    pub uuid: String,
    /// Claimed memory, bytes.
    pub memory_bytes: u64,
    /// The class the name maps to, when it maps to one.
    pub class: Option<String>,
    /// Why the device was not challenged this round (a rented machine's device that was never
    /// proven unrented), when it was not.
    pub skipped: Option<String>,
    /// One entry per module.
    pub challenges: Vec<ChallengeReport>,
}

/// A whole round against one miner.
#[derive(Debug, Clone, Serialize)]
pub struct MinerReport {
    /// Where.
    pub addr: SocketAddr,
    /// The hotkey its certificate showed (SS58), when the handshake got that far.
    pub hotkey: Option<String>,
    /// Minimum RTT measured before the challenges, ms.
    pub min_rtt_ms: Option<f64>,
    /// The inventory (claims only).
    pub inventory: Option<Inventory>,
    /// Per device.
    pub devices: Vec<DeviceReport>,
    /// How the bandwidth probe was sized, when one was planned.
    pub probe_plan: Option<ProbePlan>,
    /// The bandwidth probe, both ways (upload first).
    pub probe: Vec<ProbeResult>,
    /// Why the round could not be run (connection, handshake, inventory), if it could not.
    pub error: Option<String>,
    /// The miner-level verdict when no device could be challenged for a reason the miner
    /// controls (then `devices` is empty).
    pub fault: Option<MinerFault>,
    /// Wall time of the round, s.
    pub elapsed_s: f64,
    /// When the round against the miner began, Unix ms (receipts are dated by it).
    pub started_at_ms: u64,
    /// The certificate the miner's handshake showed (for receipts: what the miner signs
    /// verifies up to its hotkey through it).
    #[serde(skip)]
    pub miner_certificate: Option<protocol::SessionCertificate>,
}

impl MinerReport {
    /// The round per device as scoring takes it: each device's verdicts in order, how many of
    /// its planned challenges ended without one, with the class weight `class_weight` gives
    /// its claimed class (`None`: the name maps to no class).
    pub fn device_rounds(
        &self,
        class_weight: impl Fn(Option<&str>) -> f64,
    ) -> Vec<crate::scoring::DeviceRound<'_>> {
        self.devices
            .iter()
            .map(|d| crate::scoring::DeviceRound {
                class_weight: class_weight(d.class.as_deref()),
                verdicts: d
                    .challenges
                    .iter()
                    .filter_map(|c| c.verdict.as_ref())
                    .collect(),
                unjudged: d.challenges.iter().filter(|c| c.verdict.is_none()).count(),
            })
            .collect()
    }

    /// Every verdict of the round.
    pub fn verdicts(&self) -> impl Iterator<Item = &Verdict> {
        self.devices
            .iter()
            .flat_map(|d| d.challenges.iter())
            .filter_map(|c| c.verdict.as_ref())
    }
}

/// Runs one round against `target`. Its miner-facing steps end by `options.miner_timeout`
/// (each session judged at that deadline); the verifier's own checks of openings that arrived
/// in time are never cut.
pub async fn challenge_miner(ctx: &ClientContext, target: &MinerTarget) -> MinerReport {
    let started = Instant::now();
    let mut report = MinerReport {
        addr: target.addr,
        hotkey: None,
        min_rtt_ms: None,
        inventory: None,
        devices: Vec::new(),
        probe_plan: None,
        probe: Vec::new(),
        error: None,
        fault: None,
        elapsed_s: 0.0,
        started_at_ms: transport::identity::unix_ms_now(),
        miner_certificate: None,
    };
    let limit = ctx.options.miner_timeout;
    let deadline = started + limit;
    // A last-resort net over steps that are each bounded already; what it cuts is left
    // unjudged (never a pass).
    let safety = limit.saturating_mul(2).saturating_add(SAFETY_MARGIN);
    let run = run_round(ctx, target, &mut report, deadline);
    match tokio::time::timeout(safety, run).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            warn!(addr = %target.addr, error = %e, "round failed");
            report.error = Some(e.to_string());
        }
        Err(_) => {
            warn!(addr = %target.addr, "round over its safety limit");
            report.error = Some(format!("the round took longer than {safety:?}"));
        }
    }
    if report.inventory.is_none() && report.fault.is_none() {
        report.fault = Some(MinerFault {
            kind: VerdictKind::Timeout,
            stage: "connection",
            detail: report
                .error
                .clone()
                .unwrap_or_else(|| "the handshake did not finish".into()),
        });
    }
    fill_missing_verdicts(&mut report);
    report.elapsed_s = started.elapsed().as_secs_f64();
    report
}

/// Time beyond twice the miner timeout before the last-resort net cuts a round.
const SAFETY_MARGIN: Duration = Duration::from_secs(60);

/// A challenge planned for a device that ended with neither a verdict nor an error of ours
/// (never started because the round's time ran out, or cut by the safety net) is a `timeout`:
/// an absent answer is never a pass and never "no verdict".
fn fill_missing_verdicts(report: &mut MinerReport) {
    for device in &mut report.devices {
        for challenge in &mut device.challenges {
            if challenge.verdict.is_none() && challenge.error.is_none() {
                let window = challenge.window.unwrap_or(Envelope {
                    min_s: 0.0,
                    max_s: 0.0,
                    peak_floor_s: 0.0,
                });
                challenge.verdict = Some(Verdict::Timeout(TimedOut {
                    waiting_for: Phase::Ready,
                    waited_s: 0.0,
                    limit_s: 0.0,
                    connection_closed: false,
                    window,
                    busy: false,
                }));
            }
        }
    }
}

/// Checks an inventory before anything is challenged (docs/design.md §No score without proof,
/// rule 2): at least one GPU, at most [`MAX_GPUS`], no index twice, and at least one name that
/// `classifies`. `Err` says what is wrong, for the miner's `protocol-error`.
pub fn check_inventory(
    inventory: &Inventory,
    classifies: impl Fn(&GpuInfo) -> bool,
) -> Result<(), String> {
    let gpus = &inventory.gpus;
    if gpus.is_empty() {
        return Err("the inventory lists no GPU".into());
    }
    if gpus.len() > MAX_GPUS {
        return Err(format!(
            "the inventory lists {} GPUs, more than the {MAX_GPUS} a machine may have",
            gpus.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for gpu in gpus {
        if !seen.insert(gpu.index) {
            return Err(format!(
                "the inventory lists device index {} twice",
                gpu.index
            ));
        }
    }
    if !gpus.iter().any(&classifies) {
        let names: Vec<&str> = gpus.iter().map(|g| g.name.as_str()).take(4).collect();
        return Err(format!(
            "no GPU of the inventory maps to a class of the table (names: {names:?})"
        ));
    }
    Ok(())
}

async fn run_round(
    ctx: &ClientContext,
    target: &MinerTarget,
    report: &mut MinerReport,
    deadline: Instant,
) -> Result<(), TransportError> {
    let opts = &ctx.options;
    let connection = transport::connect(&ctx.endpoint, target.addr, opts.connect_timeout).await?;
    let mut control = FramedStream::open_to(&connection, protocol::Role::Miner).await?;
    let (peer, inventory) = transport::client_handshake(
        &connection,
        &mut control,
        &ctx.identity,
        target.hotkey.as_ref(),
        opts.connect_timeout,
    )
    .await?;
    report.hotkey = Some(transport::identity::ss58(&peer.hotkey));
    report.miner_certificate = Some(peer.certificate.clone());
    report.inventory = Some(inventory.clone());
    if let Err(detail) = check_inventory(&inventory, |g| ctx.planner.class_of(g).is_some()) {
        warn!(addr = %target.addr, %detail, "inventory refused");
        report.error = Some(detail.clone());
        report.fault = Some(MinerFault {
            kind: VerdictKind::ProtocolError,
            stage: "inventory",
            detail,
        });
        connection.close(quinn::VarInt::from_u32(0), b"inventory refused");
        return Ok(());
    }

    // RTT on our own clock: the minimum over a few pings. A miner that does not answer them
    // gets no RTT credit (its challenges still run, and are judged).
    let measured_rtt = measure_rtt(&mut control, opts).await;
    report.min_rtt_ms = measured_rtt.map(|d| d.as_secs_f64() * 1e3);
    let min_rtt = measured_rtt.unwrap_or(Duration::ZERO);

    report.devices = inventory
        .gpus
        .iter()
        .map(|g| DeviceReport {
            index: g.index,
            name: g.name.clone(),
            uuid: g.uuid.clone(),
            memory_bytes: g.memory_bytes,
            class: None,
            skipped: (!target.admits(g))
                .then(|| "not among the devices this machine last proved unrented".to_string()),
            challenges: Vec::new(),
        })
        .collect();
    let challenged: Vec<GpuInfo> = inventory
        .gpus
        .iter()
        .filter(|g| target.admits(g))
        .cloned()
        .collect();
    let epoch = Instant::now();
    let round_deadline = deadline.saturating_duration_since(epoch);
    for module in &opts.modules {
        let jobs = plan_jobs(
            ctx,
            target,
            &challenged,
            *module,
            &peer,
            JobClock {
                min_rtt,
                round_deadline,
            },
            report,
        );
        let outcomes = run_all_devices(ctx, &connection, jobs, epoch).await;
        for (index, ended) in outcomes {
            if let Some(device) = report.devices.iter_mut().find(|d| d.index == index)
                && let Some(challenge) = device.challenges.last_mut()
            {
                match ended.outcome {
                    Outcome::Judged(v) => challenge.verdict = Some(v),
                    Outcome::Ours(e) => challenge.error = Some(e.to_string()),
                }
                challenge.evidence = ended.evidence;
            }
        }
    }
    probe_miner(&connection, target, opts, measured_rtt, report).await;
    connection.close(quinn::VarInt::from_u32(0), b"round done");
    info!(addr = %target.addr, elapsed_s = epoch.elapsed().as_secs_f64(), "round done");
    Ok(())
}

/// Probes the bandwidth both ways after the challenges, whatever time they left: each direction
/// is bounded by its own deadline, and a missing probe would count against the miner.
async fn probe_miner(
    connection: &quinn::Connection,
    target: &MinerTarget,
    opts: &ChallengeOptions,
    measured_rtt: Option<Duration>,
    report: &mut MinerReport,
) {
    let Some(plan) = plan_probe(&opts.probe, measured_rtt, target.probe_share) else {
        return;
    };
    report.probe_plan = Some(plan);
    if plan.cut_by_budget {
        info!(addr = %target.addr, bytes = plan.bytes, wanted = plan.wanted_bytes, "probe cut by the round's probe budget (raise probe_budget_mib to measure this link fully)");
    }
    for direction in [
        ProbeDirection::MinerToVerifier,
        ProbeDirection::VerifierToMiner,
    ] {
        let result = probe_direction(connection, direction, &plan).await;
        if let Some(detail) = &result.detail {
            warn!(addr = %target.addr, direction = result.direction, outcome = result.outcome.as_str(), %detail, "bandwidth probe not measured");
        }
        report.probe.push(result);
    }
}

async fn measure_rtt(control: &mut FramedStream, opts: &ChallengeOptions) -> Option<Duration> {
    let mut min_rtt: Option<Duration> = None;
    for seq in 0..u64::from(opts.pings.max(1)) {
        let sent = Instant::now();
        control.send(&Message::Ping(Ping { seq })).await.ok()?;
        match control.expect(MessageKind::Pong, opts.ping_timeout).await {
            Ok(Message::Pong(p)) if p.seq == seq => {
                let rtt = sent.elapsed();
                min_rtt = Some(min_rtt.map_or(rtt, |m| m.min(rtt)));
            }
            _ => return None,
        }
    }
    min_rtt
}

/// The round's clock figures every job of it shares.
#[derive(Debug, Clone, Copy)]
struct JobClock {
    /// The minimum RTT measured before the challenges.
    min_rtt: Duration,
    /// When the round's time against the miner is up, from the challenges' epoch.
    round_deadline: Duration,
}

/// Plans `module` for every device; a device that cannot be planned gets an error entry.
fn plan_jobs(
    ctx: &ClientContext,
    target: &MinerTarget,
    gpus: &[GpuInfo],
    module: Builtin,
    peer: &transport::Peer,
    clock: JobClock,
    report: &mut MinerReport,
) -> Vec<DeviceJob> {
    let JobClock {
        min_rtt,
        round_deadline,
    } = clock;
    let opts = &ctx.options;
    let mut jobs = Vec::new();
    for gpu in gpus {
        let Some(device) = report.devices.iter_mut().find(|d| d.index == gpu.index) else {
            continue;
        };
        match ctx.planner.plan(gpu, module, target.rented) {
            Ok(planned) => {
                device.class = Some(planned.class.clone());
                device.challenges.push(ChallengeReport {
                    module: module.name,
                    params: hex::encode(&planned.params),
                    verdict: None,
                    error: None,
                    window: Some(planned.envelope),
                    evidence: None,
                });
                jobs.push(DeviceJob {
                    device: gpu.index,
                    planned,
                    validator: ctx.identity.hotkey(),
                    miner: peer.hotkey,
                    miner_key: peer.session_key,
                    versions: peer.versions,
                    key: ctx.identity.signing_key().clone(),
                    min_rtt,
                    openings: opts.openings,
                    samples: opts.samples,
                    rtt_cap: opts.rtt_cap,
                    prepare_lifetime: opts.prepare_lifetime,
                    ready_timeout: opts.ready_timeout,
                    openings_timeout: opts.openings_timeout,
                    round_deadline,
                    busy_budget: opts.busy_budget,
                    rented: target.rented,
                });
            }
            Err(e) => device.challenges.push(ChallengeReport {
                module: module.name,
                params: String::new(),
                verdict: None,
                error: Some(format!("cannot challenge this device: {e}")),
                window: None,
                evidence: None,
            }),
        }
    }
    jobs
}

/// How long the `Go`s wait for the devices still preparing once the first device is ready:
/// every device ready within it starts in the same instant. One still preparing then (busy, or
/// a slow `Ready`) is not challenged this round: started alone it could reuse another device's
/// compute and memory one after the other (a miner holding its devices' `Ready`s back would
/// prove one GPU as several), so it gets a `busy` timeout, no pass and no charge. Well under
/// the miner's reservation time (`reserve_s`, default 5 s), so the devices already ready keep
/// their reservations.
pub const GO_BARRIER: Duration = Duration::from_secs(2);

/// Prepares every device (untimed), sends the `Go`s of the devices ready together (all of
/// them, or those ready within [`GO_BARRIER`] of the first; a later one is not challenged:
/// `Prepared::too_late`), then collects the verdicts. A task of ours that fails leaves its device's challenge without a
/// verdict, with the error: never charged.
async fn run_all_devices(
    ctx: &ClientContext,
    connection: &quinn::Connection,
    jobs: Vec<DeviceJob>,
    epoch: Instant,
) -> Vec<(u32, Ended)> {
    let mut outcomes = Vec::new();
    let mut preparing = tokio::task::JoinSet::new();
    let mut device_of = std::collections::HashMap::new();
    for job in jobs {
        let connection = connection.clone();
        let device = job.device;
        let handle =
            preparing.spawn(async move { (job.device, prepare(&connection, &job, epoch).await) });
        device_of.insert(handle.id(), device);
    }
    let mut finishing = tokio::task::JoinSet::new();
    let mut ready: Vec<(u32, Prepared)> = Vec::new();
    let mut barrier: Option<tokio::time::Instant> = None;
    // Whether the machine's devices have been started (then a device ready later is too late).
    let mut started = false;
    loop {
        let at = barrier.filter(|_| !ready.is_empty());
        tokio::select! {
            joined = preparing.join_next_with_id() => match joined {
                None => break,
                Some(Ok((_, (device, Ok(prepared))))) => {
                    let now = tokio::time::Instant::now();
                    let closes = *barrier.get_or_insert(now + GO_BARRIER);
                    if started {
                        let waited = now.duration_since(closes - GO_BARRIER);
                        outcomes.push((device, prepared.too_late(waited, GO_BARRIER).await));
                    } else {
                        ready.push((device, prepared));
                    }
                }
                Some(Ok((_, (device, Err(ended))))) => outcomes.push((device, ended)),
                Some(Err(e)) => {
                    if let Some(device) = device_of.get(&e.id()) {
                        let outcome = OwnFailure::DeviceTask(e).into();
                        outcomes.push((*device, Ended { outcome, evidence: None }));
                    }
                }
            },
            () = async { if let Some(at) = at { tokio::time::sleep_until(at).await } else { std::future::pending().await } } => {
                start_ready(ctx, &mut ready, &mut finishing, &mut outcomes, epoch).await;
                started = true;
            }
        }
    }
    start_ready(ctx, &mut ready, &mut finishing, &mut outcomes, epoch).await;
    while let Some(joined) = finishing.join_next().await {
        match joined {
            Ok(done) => outcomes.push(done),
            Err(e) => warn!(error = %e, "a device's check task failed"),
        }
    }
    outcomes
}

/// Sends the `Go` of every device in `ready`, back to back so they run at the same time, and
/// starts waiting for each one's verdict in `finishing`; they share one [`PhaseBarrier`].
async fn start_ready(
    ctx: &ClientContext,
    ready: &mut Vec<(u32, Prepared)>,
    finishing: &mut tokio::task::JoinSet<(u32, Ended)>,
    outcomes: &mut Vec<(u32, Ended)>,
    epoch: Instant,
) {
    // The devices started together keep in step at every phase (docs/design.md §Interactive
    // phases: each PhaseKey goes to all of them at once).
    let barrier = PhaseBarrier::new(ready.len());
    for (device, mut prepared) in ready.drain(..) {
        let member = barrier.member();
        match prepared.go(epoch).await {
            Ok(()) => {
                let checker = Arc::clone(&ctx.checker);
                finishing
                    .spawn(async move { (device, prepared.finish(checker, epoch, member).await) });
            }
            Err(outcome) => outcomes.push((device, prepared.ended(outcome))),
        }
    }
}
