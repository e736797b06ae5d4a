//! Progress bars as a person sees them (issue 15, item 10): layerget runs in a real terminal
//! (tmux, with its own server socket, killed at the end), and the tests read the screen with
//! `capture-pane`. The registry is the real one, behind the fault proxy (to hold a body open)
//! or a fake that holds back its headers (what no real registry does on demand).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

/// A tmux server of our own with one 120x30 window running a command.
struct Terminal {
    socket: String,
}

impl Terminal {
    fn start(command: &str) -> Terminal {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let socket = format!(
            "layerget-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let home = isolated_home();
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "120", "-y", "30"])
            .arg(format!(
                "env -u NO_COLOR HOME={} DOCKER_CONFIG={} {command}; echo EXITED $?; sleep 600",
                home.display(),
                home.join("docker").display()
            ))
            .status()
            .expect("run tmux");
        assert!(status.success());
        Terminal { socket }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn send_keys(&self, keys: &str) {
        Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", keys])
            .status()
            .expect("send-keys");
    }

    /// Polls the screen until `what` holds (at most `limit`), returning the last screen.
    fn wait_for(&self, limit: Duration, what: impl Fn(&str) -> bool) -> (bool, String) {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if what(&screen) {
                return (true, screen);
            }
            if start.elapsed() > limit {
                return (false, screen);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

fn bin() -> String {
    assert_cmd::cargo::cargo_bin!("layerget")
        .display()
        .to_string()
}

#[test]
fn no_empty_bars_while_waiting_for_headers() {
    // A fake registry that holds back its answer: the client has asked, nothing is known yet.
    let server = RecordingServer::start(|_| {
        std::thread::sleep(Duration::from_secs(20));
        ScriptedResponse::new(503, "")
    });
    let cache = TempCache::new();
    let d1 = format!("sha256:{}", "1".repeat(64));
    let d2 = format!("sha256:{}", "2".repeat(64));
    let term = Terminal::start(&format!(
        "{} fetch --progress bar --retries 0 --cache-dir {} {} {}",
        bin(),
        cache.path().display(),
        server.reference("a/b", &d1),
        server.reference("a/b", &d2),
    ));
    wait_until("both requests", || server.requests().len() >= 2);
    assert_eq!(server.requests().len(), 2, "both requests were sent");
    // Bars draw at most 20 times a second; give them a few frames to show up.
    let (empty, screen) = term.wait_for(Duration::from_millis(800), |s| s.contains("0 B/0 B"));
    assert!(!empty, "an empty bar is on screen:\n{screen}");
}

#[test]
fn ctrl_c_leaves_no_bar_behind() {
    let registry = TestRegistry::start();
    let digest = registry.push_generated_blob("p/c", 4 << 20, 7);
    let proxy = FaultProxy::start(&registry.addr());
    proxy.set_default(Fault::Stall {
        after: 1 << 20,
        secs: 60,
    });
    let cache = TempCache::new();
    let term = Terminal::start(&format!(
        "{} fetch --progress bar --cache-dir {} {}",
        bin(),
        cache.path().display(),
        proxy.reference("p/c", &digest),
    ));
    // The last frame drawn before the stall may show a little less than the first MiB (frames
    // are rate-limited): any bar with the blob's size will do.
    let (drawn, screen) = term.wait_for(Duration::from_secs(20), |s| s.contains("/4.00 MiB"));
    assert!(drawn, "the bar is on screen:\n{screen}");
    term.send_keys("C-c");
    let (ended, screen) = term.wait_for(Duration::from_secs(20), |s| s.contains("EXITED 130"));
    assert!(ended, "layerget ended on Ctrl-C:\n{screen}");
    assert!(screen.contains("interrupted"), "{screen}");
    assert!(
        !screen.contains("/4.00 MiB"),
        "a bar was left on screen:\n{screen:?}"
    );
}

/// `--progress json`: every stderr line is an event; a cut body gives `retry`, a second `start`
/// with `resumed_from`, and a `done` whose `transferred` is only what moved after the resume; a
/// failed REF gives an `error` event naming it.
#[test]
fn json_events_follow_a_resumed_transfer() {
    let registry = TestRegistry::start();
    let size = 3u64 << 20;
    let digest = registry.push_generated_blob("p/j", size, 11);
    let proxy = FaultProxy::start(&registry.addr());
    proxy.push_fault(Fault::CutAfter(1 << 20));
    let cache = TempCache::new();
    let missing = format!("sha256:{}", "e".repeat(64));
    let out = layerget()
        .args(["fetch", "--progress", "json", "--cache-dir"])
        .arg(cache.path())
        .arg(proxy.reference("p/j", &digest))
        .arg(registry.reference("p/j", &missing))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of = |name: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["event"] == name).collect()
    };
    assert!(
        events.iter().all(|e| e["elapsed_ms"].is_u64()),
        "{events:?}"
    );
    let starts = of("start");
    assert!(starts.len() >= 2, "{events:?}");
    assert_eq!(starts[0]["resumed_from"], 0);
    assert_eq!(starts[0]["total"], size);
    let resumed = starts[1]["resumed_from"].as_u64().unwrap();
    assert!(resumed >= 1 << 20, "{events:?}");
    let retry = of("retry");
    assert_eq!(retry.len(), 1, "{events:?}");
    assert!(retry[0]["wait_ms"].is_u64() && retry[0]["reason"].is_string());
    let done = of("done");
    let ok = done
        .iter()
        .find(|d| d["bytes"] == size)
        .expect("a done event");
    assert_eq!(ok["transferred"], size - resumed, "{events:?}");
    let errors = of("error");
    assert_eq!(errors.len(), 1, "{events:?}");
    assert_eq!(errors[0]["exit_code"], 3);
    assert_eq!(
        errors[0]["ref"],
        registry.reference("p/j", &missing).as_str()
    );
}
