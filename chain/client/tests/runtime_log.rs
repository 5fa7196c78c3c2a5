//! The client says once per runtime version what the runtime lacks and what it uses instead.
//! A test binary of its own: tracing caches each log callsite's interest process-wide, so a
//! test running beside others that hit the same callsites without a subscriber could miss them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chain_client::Fallback;
use common::mock::Outcome;
use common::subnet::{NETUID, Subnet, client};
use common::{Runtime, runtimes};

/// What each committed runtime lacks (as `mock_node.rs` checks it).
fn expected_fallbacks(rt: &Runtime) -> Vec<Fallback> {
    match rt.name {
        "finney" => vec![Fallback::EpochSchedule],
        _ => vec![
            Fallback::CommitRevealVersion,
            Fallback::MechanismCount,
            Fallback::EpochSchedule,
        ],
    }
}

/// A `std::io::Write` into a shared buffer, for capturing the client's log.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_client_says_once_per_runtime_what_it_lacks_and_what_it_uses() {
    for rt in runtimes() {
        let log = Capture::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let (client, _) = client(&rt, Subnet::three_neurons(&rt).storage, Outcome::Success).await;
        for _ in 0..2 {
            client.read_hyperparams(NETUID).await.expect("read");
            client.clone().read_metagraph(NETUID).await.expect("read");
        }
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let spec = format!("spec_version={}", rt.spec_version());
        for fallback in expected_fallbacks(&rt) {
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.contains(fallback.missing()))
                .collect();
            assert_eq!(lines.len(), 1, "{}: {fallback:?} in\n{text}", rt.name);
            assert!(
                lines[0].contains(fallback.used()),
                "{}: {}",
                rt.name,
                lines[0]
            );
            assert!(lines[0].contains(&spec), "{}: {}", rt.name, lines[0]);
        }
        let missing_calls = text
            .lines()
            .filter(|l| l.contains("commit_timelocked_weights"))
            .count();
        assert_eq!(missing_calls, usize::from(rt.name == "spec293"), "{text}");
    }
}
