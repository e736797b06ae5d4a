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
    let start = Instant::now();
    while server.requests().len() < 2 && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(20));
    }
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
    let (drawn, screen) =
        term.wait_for(Duration::from_secs(20), |s| s.contains("1.00 MiB/4.00 MiB"));
    assert!(drawn, "the bar shows the first MiB:\n{screen}");
    term.send_keys("C-c");
    let (ended, screen) = term.wait_for(Duration::from_secs(20), |s| s.contains("EXITED 130"));
    assert!(ended, "layerget ended on Ctrl-C:\n{screen}");
    assert!(screen.contains("interrupted"), "{screen}");
    assert!(
        !screen.contains("MiB/4.00 MiB"),
        "a bar was left on screen:\n{screen:?}"
    );
}
