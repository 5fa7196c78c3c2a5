//! `verifier chain info`: an operator's first contact with a chain. Connects to the node of
//! `--config`'s `[chain]` (or `--url`, `--netuid`) and prints, read at one finalized block
//! (`chain_client::ChainInfo`): the runtime's spec version and what it lacks (with the behaviour
//! used instead), the subnet's hyperparameters as read (and which were defaulted), the
//! submission path `verifier run` would take, the epoch schedule, this validator's uid, permit
//! and stake, and the neurons of the metagraph with their axons. `--json` prints one object.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chain::commit_reveal::WeightSubmission;
use chain::reveal_round::EpochSchedule;
use chain_client::{ChainClient, ChainInfo, HotkeyStanding, Neuron, SubnetHyperparams};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use transport::identity;
use verifier::service::ValidatorConfig;

/// Arguments of `verifier chain`.
#[derive(Debug, Args)]
pub(crate) struct ChainArgs {
    #[command(subcommand)]
    action: ChainAction,
}

#[derive(Debug, Subcommand)]
enum ChainAction {
    /// What the chain offers this validator: the runtime's spec version and what it lacks, the
    /// subnet's hyperparameters (and which were defaulted), the weight submission path
    /// `verifier run` would take, this validator's uid, permit and stake, and the miners of the
    /// metagraph with their axons.
    Info(InfoArgs),
}

/// Arguments of `verifier chain info`.
#[derive(Debug, Args)]
struct InfoArgs {
    /// A validator.toml: its [chain] url and netuid, and its [hotkey] for the validator's
    /// standing.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The node (ws://host:port or wss://host); overrides the config's.
    #[arg(long)]
    url: Option<String>,
    /// The subnet; overrides the config's.
    #[arg(long)]
    netuid: Option<u16>,
    /// The hotkey (SS58 or 0x-hex) whose standing to show; default: the config's [hotkey].
    #[arg(long)]
    hotkey: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `verifier chain …`.
pub(crate) fn run(args: &ChainArgs) -> Result<()> {
    match &args.action {
        ChainAction::Info(info) => run_info(info),
    }
}

/// Where `chain info` connects, and whose standing it shows.
struct Target {
    url: String,
    netuid: u16,
    hotkey: Option<[u8; 32]>,
}

fn target(args: &InfoArgs) -> Result<Target> {
    let config = args
        .config
        .as_deref()
        .map(ValidatorConfig::load)
        .transpose()?;
    let chain = config.as_ref().and_then(|c| c.chain.as_ref());
    let url = args.url.clone().or_else(|| chain.map(|c| c.url.clone()));
    let netuid = args.netuid.or_else(|| chain.map(|c| c.netuid));
    let (Some(url), Some(netuid)) = (url, netuid) else {
        bail!(
            "say which chain: --config validator.toml (with a [chain] table), or --url ws://HOST:9944 --netuid N"
        );
    };
    let hotkey = match (&args.hotkey, &config) {
        (Some(h), _) => Some(*identity::parse_hotkey(h)?.as_bytes()),
        (None, Some(c)) => {
            let source = c
                .hotkey
                .source()
                .map_err(|reason| anyhow::anyhow!("[hotkey]: {reason}"))?;
            Some(*identity::hotkey_of(&identity::load_hotkey(&source)?).as_bytes())
        }
        (None, None) => None,
    };
    Ok(Target {
        url,
        netuid,
        hotkey,
    })
}

fn run_info(args: &InfoArgs) -> Result<()> {
    let target = target(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let info = runtime.block_on(async {
        let client = ChainClient::connect(&target.url).await?;
        client.chain_info(target.netuid, target.hotkey).await
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info_json(&target.url, &info))?
        );
    } else {
        print!("{}", info_text(&target.url, &info));
    }
    Ok(())
}

fn ss58(hotkey: &[u8; 32]) -> String {
    identity::ss58(&protocol::Hotkey::new(*hotkey))
}

/// The path in words, with the calls it sends.
fn path_words(path: &WeightSubmission) -> String {
    match path {
        WeightSubmission::SetWeights => "set_weights (commit-reveal off)".to_owned(),
        WeightSubmission::CommitRevealV2 {
            reveal_period_epochs,
        } => format!(
            "commit-reveal v2: commit_weights, then reveal_weights {reveal_period_epochs} epoch(s) later"
        ),
        WeightSubmission::Timelocked {
            reveal_period_epochs,
            version,
        } => format!(
            "timelocked commit-reveal v{version}: commit_timelocked_weights, revealed by the chain {reveal_period_epochs} epoch(s) later"
        ),
    }
}

/// The hyperparameters as `(name, value)`, in the order they are printed.
fn hyperparameter_rows(hp: &SubnetHyperparams) -> Vec<(&'static str, Value)> {
    vec![
        ("tempo", json!(hp.tempo)),
        ("min_allowed_weights", json!(hp.min_allowed_weights)),
        ("max_weights_limit", json!(hp.max_weights_limit)),
        ("weights_version_key", json!(hp.weights_version_key)),
        ("weights_set_rate_limit", json!(hp.weights_set_rate_limit)),
        ("commit_reveal_enabled", json!(hp.commit_reveal_enabled)),
        ("commit_reveal_version", json!(hp.commit_reveal_version)),
        ("reveal_period_epochs", json!(hp.reveal_period_epochs)),
        ("mechanism_count", json!(hp.mechanism_count)),
        ("kappa", json!(hp.kappa)),
        ("bonds_moving_average", json!(hp.bonds_moving_average)),
        ("bonds_penalty", json!(hp.bonds_penalty)),
        ("activity_cutoff", json!(hp.activity_cutoff)),
        ("max_allowed_validators", json!(hp.max_allowed_validators)),
        ("yuma3_enabled", json!(hp.yuma3_enabled)),
        ("liquid_alpha_enabled", json!(hp.liquid_alpha_enabled)),
        ("alpha_low", json!(hp.alpha_low)),
        ("alpha_high", json!(hp.alpha_high)),
        ("alpha_sigmoid_steepness", json!(hp.alpha_sigmoid_steepness)),
        ("stake_threshold", json!(hp.stake_threshold)),
        ("tao_weight", json!(hp.tao_weight)),
        ("owner_hotkey", json!(ss58(&hp.owner_hotkey))),
    ]
}

/// The neuron's role as `verifier run` sees it, and its axon as `ip:port`.
fn neuron_role(n: &Neuron, me: Option<&[u8; 32]>) -> (&'static str, Option<String>) {
    let axon = n.axon.and_then(|a| {
        let ip = a.ip_addr()?;
        (a.port != 0 && !ip.is_unspecified()).then(|| std::net::SocketAddr::new(ip, a.port))
    });
    let role = if me == Some(&n.hotkey) {
        "this validator"
    } else if n.validator_permit {
        "validator"
    } else if axon.is_some() {
        "miner"
    } else {
        "no axon"
    };
    (role, axon.map(|a| a.to_string()))
}

fn epoch_words(info: &ChainInfo) -> String {
    let schedule = match info.epoch {
        EpochSchedule::Legacy { netuid, tempo } => {
            format!("fixed schedule (Tempo {tempo}, netuid {netuid})")
        }
        EpochSchedule::Stateful(s) => format!(
            "stateful schedule (Tempo {}, last epoch at block {}, epoch index {})",
            s.tempo, s.last_epoch_block, s.subnet_epoch_index
        ),
    };
    let next = match info.next_epoch_block {
        Some(b) => format!(
            "next epoch at block {b} (in {} blocks)",
            b.saturating_sub(info.block)
        ),
        None => "no epochs (tempo 0)".to_owned(),
    };
    let since = info
        .blocks_since_last_step
        .map(|b| format!("; BlocksSinceLastStep {b}"))
        .unwrap_or_default();
    format!("{schedule}; {next}{since}")
}

fn standing_words(s: &HotkeyStanding, block: u64) -> String {
    let Some(uid) = s.uid else {
        return format!(
            "validator {}: not registered on this subnet (register it before verifier run can set weights)",
            ss58(&s.hotkey)
        );
    };
    let when = match s.weights_accepted_from {
        Some(b) if b <= block.saturating_add(1) => "the chain takes its weights now".to_owned(),
        Some(b) => format!("the chain takes its next weights from block {b}"),
        None => String::new(),
    };
    format!(
        "validator {}: uid {uid}, validator permit {}, stake {}, last weights at block {}; {when}",
        ss58(&s.hotkey),
        if s.validator_permit {
            "yes"
        } else {
            "NO (weights on other uids are refused)"
        },
        s.stake,
        s.last_update,
    )
}

/// `chain info` as text.
fn info_text(url: &str, info: &ChainInfo) -> String {
    use std::fmt::Write;
    let hp = &info.hyperparams;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "chain {url}, subnet {}, finalized block {}",
        hp.netuid, info.block
    );
    let _ = writeln!(out, "runtime: spec version {}", info.runtime.spec_version);
    for f in &info.runtime.fallbacks {
        let _ = writeln!(out, "  lacks {}: using {}", f.missing(), f.used());
    }
    let calls: Vec<String> = info
        .runtime
        .calls
        .iter()
        .map(|(name, has)| format!("{name} {}", if *has { "yes" } else { "NO" }))
        .collect();
    let _ = writeln!(out, "  calls: {}", calls.join(", "));
    let defaulted: Vec<&str> = hp.defaulted.iter().map(|f| f.missing()).collect();
    let _ = writeln!(
        out,
        "hyperparameters{}:",
        if defaulted.is_empty() {
            String::new()
        } else {
            format!(
                " (defaulted, not in this runtime: {})",
                defaulted.join(", ")
            )
        }
    );
    for (name, value) in hyperparameter_rows(hp) {
        let _ = writeln!(out, "  {name:<24} {value}");
    }
    let _ = match &info.submission {
        Ok(path) => writeln!(out, "weights: verifier run would use {}", path_words(path)),
        Err(e) => writeln!(
            out,
            "weights: verifier run cannot submit on this subnet: {e}"
        ),
    };
    let _ = writeln!(out, "epoch: {}", epoch_words(info));
    if let Some(s) = &info.validator {
        let _ = writeln!(out, "{}", standing_words(s, info.block));
    }
    let me = info.validator.as_ref().map(|s| &s.hotkey);
    let stakes = info.metagraph.stake_weights();
    let _ = writeln!(out, "neurons: {}", info.metagraph.neurons.len());
    let _ = writeln!(
        out,
        "{:>5}  {:<48}  {:<14}  {:>16}  axon",
        "uid", "hotkey", "role", "stake"
    );
    for n in &info.metagraph.neurons {
        let (role, axon) = neuron_role(n, me);
        let _ = writeln!(
            out,
            "{:>5}  {:<48}  {:<14}  {:>16}  {}",
            n.uid,
            ss58(&n.hotkey),
            role,
            stakes.get(usize::from(n.uid)).copied().unwrap_or(0),
            axon.as_deref().unwrap_or("-")
        );
    }
    out
}

/// `chain info --json`.
fn info_json(url: &str, info: &ChainInfo) -> Value {
    let hp = &info.hyperparams;
    let mut hyperparameters: serde_json::Map<String, Value> = hyperparameter_rows(hp)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    hyperparameters.insert(
        "defaulted".to_owned(),
        json!(hp.defaulted.iter().map(|f| f.missing()).collect::<Vec<_>>()),
    );
    let submission = match &info.submission {
        Ok(path) => json!({"path": path_json(path), "description": path_words(path)}),
        Err(e) => json!({"path": null, "error": e.to_string()}),
    };
    let me = info.validator.as_ref().map(|s| &s.hotkey);
    let stakes = info.metagraph.stake_weights();
    let neurons: Vec<Value> = info
        .metagraph
        .neurons
        .iter()
        .map(|n| {
            let (role, axon) = neuron_role(n, me);
            json!({
                "uid": n.uid,
                "hotkey": ss58(&n.hotkey),
                "role": role,
                "validator_permit": n.validator_permit,
                "stake": stakes.get(usize::from(n.uid)).copied().unwrap_or(0),
                "axon": axon,
            })
        })
        .collect();
    json!({
        "url": url,
        "netuid": hp.netuid,
        "block": info.block,
        "runtime": {
            "spec_version": info.runtime.spec_version,
            "fallbacks": info.runtime.fallbacks.iter()
                .map(|f| json!({"missing": f.missing(), "used": f.used()}))
                .collect::<Vec<_>>(),
            "calls": info.runtime.calls.iter()
                .map(|(name, has)| ((*name).to_owned(), json!(has)))
                .collect::<serde_json::Map<_, _>>(),
        },
        "hyperparameters": hyperparameters,
        "submission": submission,
        "epoch": {
            "schedule": match info.epoch {
                EpochSchedule::Legacy { .. } => "fixed",
                EpochSchedule::Stateful(_) => "stateful",
            },
            "next_epoch_block": info.next_epoch_block,
            "blocks_since_last_step": info.blocks_since_last_step,
        },
        "validator": info.validator.as_ref().map(|s| json!({
            "hotkey": ss58(&s.hotkey),
            "uid": s.uid,
            "validator_permit": s.validator_permit,
            "stake": s.stake,
            "last_update": s.last_update,
            "weights_accepted_from": s.weights_accepted_from,
        })),
        "neurons": neurons,
    })
}

/// The store's name for a path (`set-weights`, `commit-reveal-v2`, `timelocked-v4`).
fn path_json(path: &WeightSubmission) -> &'static str {
    match path {
        WeightSubmission::SetWeights => "set-weights",
        WeightSubmission::CommitRevealV2 { .. } => "commit-reveal-v2",
        WeightSubmission::Timelocked { .. } => "timelocked-v4",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use chain_client::{AxonInfo, ClientError, Fallback, Metagraph, RuntimeSupport};

    fn hyperparams() -> SubnetHyperparams {
        SubnetHyperparams {
            netuid: 1,
            tempo: 99,
            kappa: 32_767,
            bonds_moving_average: 900_000,
            bonds_penalty: 0,
            activity_cutoff: 5000,
            max_allowed_validators: 64,
            yuma3_enabled: false,
            liquid_alpha_enabled: false,
            alpha_low: 45_875,
            alpha_high: 58_982,
            alpha_sigmoid_steepness: 1000,
            stake_threshold: 0,
            min_allowed_weights: 1,
            max_weights_limit: 65_535,
            weights_version_key: 0,
            weights_set_rate_limit: 100,
            commit_reveal_enabled: true,
            commit_reveal_version: 2,
            reveal_period_epochs: 1,
            mechanism_count: 1,
            tao_weight: 0,
            owner_hotkey: [0; 32],
            spec_version: 293,
            defaulted: vec![Fallback::CommitRevealVersion, Fallback::MechanismCount],
        }
    }

    fn neuron(uid: u16, permit: bool, axon: Option<AxonInfo>) -> Neuron {
        Neuron {
            uid,
            hotkey: [uid as u8 + 1; 32],
            alpha_stake: 1000 * u64::from(uid),
            tao_stake: 0,
            validator_permit: permit,
            last_update: 90,
            block_at_registration: 1,
            axon,
            weights: Vec::new(),
            bonds: Vec::new(),
        }
    }

    fn info(submission: Result<WeightSubmission, ClientError>) -> ChainInfo {
        let axon = AxonInfo {
            block: 5,
            version: 1,
            ip: 0x0a00_0002,
            port: 8091,
            ip_type: 4,
            protocol: 4,
            placeholder1: 0,
            placeholder2: 0,
        };
        let metagraph = Metagraph {
            netuid: 1,
            mechanism: 0,
            block: 100,
            block_hash: [0; 32],
            tao_weight: 0,
            neurons: vec![
                neuron(0, true, None),
                neuron(1, false, Some(axon)),
                neuron(2, false, None),
            ],
        };
        let hp = hyperparams();
        let validator = chain_client::info::standing_of(&metagraph, &hp, [1; 32]);
        ChainInfo {
            block: 100,
            runtime: RuntimeSupport {
                spec_version: 293,
                fallbacks: vec![
                    Fallback::CommitRevealVersion,
                    Fallback::MechanismCount,
                    Fallback::EpochSchedule,
                ],
                calls: vec![("set_weights", true), ("commit_timelocked_weights", false)],
            },
            hyperparams: hp,
            submission,
            epoch: EpochSchedule::Legacy {
                netuid: 1,
                tempo: 99,
            },
            blocks_since_last_step: Some(3),
            next_epoch_block: Some(197),
            validator: Some(validator),
            metagraph,
        }
    }

    #[test]
    fn the_text_names_the_runtime_its_fallbacks_the_path_and_the_neurons() {
        let path = WeightSubmission::CommitRevealV2 {
            reveal_period_epochs: 1,
        };
        let text = info_text("ws://127.0.0.1:9944", &info(Ok(path)));
        for expected in [
            "chain ws://127.0.0.1:9944, subnet 1, finalized block 100",
            "runtime: spec version 293",
            "lacks CommitRevealWeightsVersion: using commit-reveal v2",
            "lacks MechanismCountCurrent: using one mechanism",
            "commit_timelocked_weights NO",
            "(defaulted, not in this runtime: CommitRevealWeightsVersion, MechanismCountCurrent)",
            "weights: verifier run would use commit-reveal v2: commit_weights, then reveal_weights 1 epoch(s) later",
            "next epoch at block 197 (in 97 blocks); BlocksSinceLastStep 3",
            "uid 0, validator permit yes, stake 0, last weights at block 90; the chain takes its next weights from block 190",
            "10.0.0.2:8091",
        ] {
            assert!(text.contains(expected), "{expected:?} missing from\n{text}");
        }
        let rows: Vec<&str> = text.lines().filter(|l| l.contains("  miner  ")).collect();
        assert_eq!(rows.len(), 1, "{text}");
        assert!(text.contains("this validator"), "{text}");
    }

    #[test]
    fn an_unusable_path_is_reported_not_hidden() {
        let refused = Err(ClientError::CallNotInRuntime {
            call: "SubtensorModule::commit_timelocked_weights".into(),
            spec_version: 293,
        });
        let info = info(refused);
        let text = info_text("ws://x:1", &info);
        assert!(
            text.contains("weights: verifier run cannot submit on this subnet: the connected runtime (spec version 293) has no call SubtensorModule::commit_timelocked_weights"),
            "{text}"
        );
        let value = info_json("ws://x:1", &info);
        assert_eq!(value["submission"]["path"], Value::Null);
        assert!(
            value["submission"]["error"]
                .as_str()
                .unwrap()
                .contains("spec version 293")
        );
    }

    #[test]
    fn the_json_has_every_part() {
        let value = info_json("ws://x:1", &info(Ok(WeightSubmission::SetWeights)));
        assert_eq!(value["runtime"]["spec_version"], 293);
        assert_eq!(
            value["runtime"]["calls"]["commit_timelocked_weights"],
            false
        );
        assert_eq!(
            value["runtime"]["fallbacks"][0]["missing"],
            "CommitRevealWeightsVersion"
        );
        assert_eq!(value["hyperparameters"]["tempo"], 99);
        assert_eq!(
            value["hyperparameters"]["defaulted"],
            json!(["CommitRevealWeightsVersion", "MechanismCountCurrent"])
        );
        assert_eq!(value["submission"]["path"], "set-weights");
        assert_eq!(value["epoch"]["next_epoch_block"], 197);
        assert_eq!(value["validator"]["uid"], 0);
        assert_eq!(value["validator"]["weights_accepted_from"], 190);
        assert_eq!(value["neurons"][1]["axon"], "10.0.0.2:8091");
        assert_eq!(value["neurons"][1]["role"], "miner");
        assert_eq!(value["neurons"][2]["axon"], Value::Null);
        assert_eq!(value["neurons"][2]["stake"], 2000);
    }
}
