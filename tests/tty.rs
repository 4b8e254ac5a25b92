//! The terminal (README, "Commands"): `run --once` and `backfill` on a terminal show a progress
//! bar with warnings and quarantines printed above it, and per-file events only with `-v`; off
//! a terminal the log is unchanged. The terminal is a real pseudo-terminal, made by script(1).

mod common;

use std::process::Command as StdCommand;

use common::*;

/// Runs the binary with `args` under a pseudo-terminal; returns its exit code and everything
/// it wrote to the terminal (stdout and stderr alike).
fn on_a_terminal(ws: &Workspace, args: &[&str]) -> (i32, String) {
    let bin = assert_cmd::cargo::cargo_bin("article-etl");
    let mut line = format!("{} --config {}", bin.display(), ws.config.display());
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    let mut c = StdCommand::new("script");
    c.args([
        "--quiet",
        "--flush",
        "--return",
        "--command",
        &line,
        "/dev/null",
    ])
    .env("TERM", "xterm-256color")
    .env("COLUMNS", "160");
    for (k, _) in std::env::vars() {
        if k.starts_with("ARTICLE_ETL") {
            c.env_remove(k);
        }
    }
    let out = c.output().expect("script(1) runs (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

fn fill(ws: &Workspace) {
    fill_inbox(ws, 910_000, 400);
    ws.drop_file("broken.txt", b"\x00\x01not an article");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_terminal_the_bar_shows_and_only_warnings_print_above_it() {
    let ws = Workspace::new("tty_bar");
    fill(&ws);

    let (code, screen) = on_a_terminal(&ws, &["run", "--once"]);

    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("files"), "no progress bar: {screen}");
    assert!(
        screen.contains("inserted 400"),
        "the bar's last state: {screen}"
    );
    assert!(
        screen.contains("file quarantined") && screen.contains("broken.txt"),
        "the quarantine is printed above the bar: {screen}"
    );
    assert!(
        !screen.contains("file loaded"),
        "per-file events on a terminal without -v: {screen}"
    );
    // The end summary as always.
    assert!(
        screen.contains("inserted") && screen.contains("Ok in"),
        "{screen}"
    );
    assert_eq!(ws.articles().await.len(), 400);
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_v_the_per_file_events_print_above_the_bar_too() {
    let ws = Workspace::new("tty_verbose");
    fill(&ws);

    let (code, screen) = on_a_terminal(&ws, &["-v", "run", "--once"]);

    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("file loaded"), "{screen}");
    assert!(screen.contains("files"), "no progress bar: {screen}");
    ws.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_has_its_bar_on_a_terminal_and_its_log_lines_off_one() {
    let ws = Workspace::new("tty_backfill");
    let archive = tempfile::tempdir().unwrap();
    let tree = archive.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for id in 920_000..920_300u64 {
        std::fs::write(
            tree.join(format!("content_{id}.txt")),
            article(id, &format!("终端测试第{id}号"), &paragraphs(id, 2)),
        )
        .unwrap();
    }
    let tree_arg = tree.display().to_string();

    // Off a terminal: the per-file log lines, as before, and no bar.
    let out = ws.cmd().args(["backfill", &tree_arg]).assert().success();
    let log = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(log.contains("file loaded"), "{log}");
    assert!(
        !log.contains("300/300 files"),
        "a bar off a terminal: {log}"
    );

    // On a terminal (everything is finished now, so skipped): the bar, no per-file lines.
    let (code, screen) = on_a_terminal(&ws, &["backfill", &tree_arg]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("300/300 files"), "{screen}");
    assert!(screen.contains("skipped 300"), "{screen}");
    assert!(!screen.contains("file loaded"), "{screen}");
    ws.cleanup().await;
}
