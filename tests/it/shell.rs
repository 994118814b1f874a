//! `flowlake shell`: driven from stdin (no terminal) and through a pseudo-terminal (`script`),
//! where line editing, completion, history and Ctrl-C are real.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

fn lake(dir: &Path) -> Option<std::path::PathBuf> {
    let lake = dir.join("lake");
    ingest_lib(&[&samples()?.join("azure-vnet-v4-docs-sample.json")], &lake);
    Some(lake)
}

#[test]
fn shell_reads_statements_and_commands_from_stdin() {
    let d = tempfile::tempdir().unwrap();
    let lake = crate::need!(lake(d.path()), SAMPLES);
    let script = "\\d\n\\d flows\n\\df\n\
        SELECT ip_class(dst_ip) AS c,\n  count(*) AS n\n  FROM flows GROUP BY 1 ORDER BY 1;\n\
        SELECT nonsense FROM flows;\n\
        CREATE VIEW outside AS SELECT * FROM flows WHERE is_public(dst_ip);\n\
        \\format csv\nSELECT count(*) > 0 AS some FROM outside;\n\
        \\timing on\n\\maxrows 2\n\\format table\nSELECT * FROM flows;\n\
        SELECT 'last, without a semicolon' AS note";
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowlake"))
        .args(["shell", "--lake", lake.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // No prompts or banner when not on a terminal.
    assert!(!stdout.contains("flowlake>"), "{stdout}");
    // \d lists the table and the shipped views; \d flows documents columns; \df our functions.
    assert!(
        stdout.contains("flow_hours  view: one row per flow per hour"),
        "{stdout}"
    );
    assert!(stdout.contains("src_ip") && stdout.contains("Source address in canonical text"));
    assert!(stdout.contains("date") && stdout.contains("Date32"));
    assert!(
        stdout.contains("ip_in_set(ip, 'set') → boolean"),
        "{stdout}"
    );
    // A multi-line statement ran; the failing one was reported and the shell went on.
    assert!(stdout.contains("| public  |"), "{stdout}");
    assert_eq!(
        stderr.trim(),
        "error: line 1, column 8: No field named nonsense",
        "{stderr}"
    );
    // The view created in the session persists; format, timing and row limit switch.
    assert!(
        stdout.contains("output format is csv\nsome\ntrue\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("timing is on") && stdout.contains("Time: "),
        "{stdout}"
    );
    assert!(stdout.contains("(2 rows shown; more not shown"), "{stdout}");
    assert!(stdout.contains("last, without a semicolon"), "{stdout}");
    // A statement failed, so the exit status says so.
    assert_eq!(out.status.code(), Some(1));
}

/// A program on a pseudo-terminal (via `script`), with its output collected by a thread.
struct Pty {
    child: Child,
    input: ChildStdin,
    output: Arc<Mutex<String>>,
}

impl Pty {
    fn spawn(cmd: &str, env: &[(&str, &str)]) -> Pty {
        let mut c = Command::new("script");
        c.args(["-qec", cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("script(1) from util-linux");
        let input = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Pty {
            child,
            input,
            output,
        }
    }

    fn send(&mut self, s: &str) {
        self.input.write_all(s.as_bytes()).unwrap();
        self.input.flush().unwrap();
    }

    /// Waits until the output after byte `from` contains `needle`; returns the offset after it.
    fn expect(&self, needle: &str, from: usize, timeout: Duration) -> Option<usize> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            {
                let out = self.output.lock().unwrap();
                if let Some(i) = out.get(from..).and_then(|s| s.find(needle)) {
                    return Some(from + i + needle.len());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn must(&self, needle: &str, from: usize) -> usize {
        self.expect(needle, from, Duration::from_secs(30))
            .unwrap_or_else(|| {
                panic!(
                    "no {needle:?} after byte {from} in output:\n{}",
                    self.output.lock().unwrap()
                )
            })
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn shell_on_a_terminal_completes_keeps_history_and_cancels_with_ctrl_c() {
    let d = tempfile::tempdir().unwrap();
    let lake = crate::need!(lake(d.path()), SAMPLES);
    let history = d.path().join("history");
    let cmd = format!(
        "stty cols 200 rows 50; exec {} shell --lake {}",
        env!("CARGO_BIN_EXE_flowlake"),
        lake.display()
    );
    let mut t = Pty::spawn(&cmd, &[("FLOWLAKE_HISTORY", history.to_str().unwrap())]);
    let mut at = t.must("flowlake> ", 0);

    // Tab completes a function name (with its parenthesis) and a column name.
    t.send("SELECT ip_cla\t");
    at = t.must("ip_class(", at);
    t.send("dst_i\t");
    at = t.must("dst_ip", at);
    t.send(") AS c, count(*) AS n FROM flows GROUP BY 1 ORDER BY 1;\r");
    at = t.must("| public  |", at);
    at = t.must("flowlake> ", at);

    // Ctrl-C cancels a query that would run for hours, and the shell stays.
    t.send("SELECT sum(value % 7) AS s FROM generate_series(1, 100000000000);\r");
    at = t.must("100000000000);", at);
    let mut cancelled = None;
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(300));
        t.send("\x03");
        cancelled = t.expect("query cancelled", at, Duration::from_secs(2));
        if cancelled.is_some() {
            break;
        }
    }
    at = cancelled.unwrap_or_else(|| panic!("not cancelled:\n{}", t.output.lock().unwrap()));
    at = t.must("flowlake> ", at);
    t.send("SELECT 42 AS answer;\r");
    at = t.must("| 42     |", at);
    at = t.must("flowlake> ", at);

    // Ctrl-C at the prompt discards the line being typed.
    t.send("SELECT 'half typed");
    at = t.must("half typed", at);
    t.send("\x03");
    at = t.must("flowlake> ", at);
    t.send("\\q\r");
    let _ = at;
    let end = Instant::now() + Duration::from_secs(10);
    while t.child.try_wait().unwrap().is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(t.child.try_wait().unwrap().is_some(), "\\q did not quit");

    // History persists across sessions.
    let h = std::fs::read_to_string(&history).unwrap();
    assert!(h.contains("SELECT 42 AS answer;"), "{h}");
    assert!(!h.contains("half typed"), "{h}");
}
